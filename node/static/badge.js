// The badge over an object page: its fields checked in this browser against
// the validators' signatures, from the genesis this browser pinned for the
// chain id (docs/operations.md, "What the badge proves").
import {
  VerifyFailed, concat, cryptoPath, decodeHeader, equalBytes, fromHex, merkleRootFromProof, sha256, signaturePath,
  toHex, trustFromGenesis, unpack, verifyAnswer, verifyHeader,
} from "./verify.js";

const utf8 = new TextEncoder();
const PIN_PREFIX = "shopchain.genesis.";

function text(value) {
  return utf8.encode(value);
}

function lengthPrefixed(value) {
  const raw = text(value);
  if (raw.length > 255) throw new VerifyFailed("a key part is at most 255 bytes");
  return concat(Uint8Array.of(raw.length), raw);
}

function u64(n) {
  const out = new Uint8Array(8);
  let value = BigInt(n);
  for (let i = 7; i >= 0; i--) { out[i] = Number(value & 0xffn); value >>= 8n; }
  return out;
}

// The state keys of commerce/keys.py.
const KEYS = {
  account: (address) => concat(text("a"), fromHex(address)),
  order: (id) => concat(text("o"), fromHex(id)),
  batch: (id) => concat(text("c"), fromHex(id)),
  coupon: (batch, n) => concat(text("C"), fromHex(batch), u64(n)),
  contract: (id) => concat(text("k"), fromHex(id)),
  product: (merchant, sku) => concat(text("P"), fromHex(merchant), lengthPrefixed(sku)),
  trace: (subject) => concat(text("T"), lengthPrefixed(subject)),
  traceEvent: (subject, index) => concat(text("U"), lengthPrefixed(subject), u64(index)),
  balance: (address, asset) => concat(text("b"), fromHex(address), lengthPrefixed(asset)),
  holdings: (address) => concat(text("h"), fromHex(address)),
};

/** A proven record as the RPC shows it (bytes as hex), for comparing. */
function asJson(value) {
  if (value instanceof Uint8Array) return toHex(value);
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(asJson);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asJson(v)]));
  return value;
}

function same(a, b) {
  return JSON.stringify(canonicalJson(a)) === JSON.stringify(canonicalJson(b));
}

function canonicalJson(value) {
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonicalJson(value[key])]));
  }
  return value;
}

function proven(values, key, what) {
  const hex = toHex(key);
  if (!values.has(hex)) throw new VerifyFailed(`the answer does not prove the ${what}`);
  const value = values.get(hex);
  return value === null ? null : unpack(value);
}

/** Every field of the proven record must be the one the page shows. */
function sameFields(record, shown, what, skip = []) {
  if (record === null) throw new VerifyFailed(`the ${what} is proven absent`);
  for (const [field, value] of Object.entries(record)) {
    if (skip.includes(field) || !(field in shown)) continue;
    if (!same(asJson(value), shown[field])) throw new VerifyFailed(`the ${what}'s ${field} is not the one the validators signed`);
  }
}

// page kind -> check(proven values, id, the answer shown); the page asks its getter with prove: true
const CHECKS = {
  "coupon-batch": (values, id, shown) => {
    const batch = proven(values, KEYS.batch(id), "coupon batch");
    sameFields(batch, shown, "batch");
    if (shown.sold !== Number(batch.sold_online) + Number(batch.sold_offline)) throw new VerifyFailed("the batch's sold is not its online and offline sales");
  },
  order: (values, id, shown) => sameFields(proven(values, KEYS.order(id), "order"), shown, "order"),
  contract: (values, id, shown) => sameFields(proven(values, KEYS.contract(id), "contract"), shown, "contract", ["timer"]),
  product: (values, id, shown) => {
    const [merchant, ...sku] = id.split("/");
    sameFields(proven(values, KEYS.product(merchant, sku.join("/")), "product"), shown, "product");
  },
  coupon: (values, id, shown) => {
    const [batch, n] = id.split("/");
    sameFields(proven(values, KEYS.coupon(batch, Number(n)), "coupon"), shown, "coupon");
  },
  trace: (values, id, shown) => {
    const trace = proven(values, KEYS.trace(id), "trace");
    if (trace === null) throw new VerifyFailed("the trace is proven absent");
    if (trace.stage !== shown.stage) throw new VerifyFailed("the trace's stage is not the one the validators signed");
    if (shown.events.length !== Number(trace.count)) throw new VerifyFailed("the trace shows another number of events than it has");
    shown.events.forEach((event, index) => {
      const record = proven(values, KEYS.traceEvent(id, index), `trace event ${index}`);
      if (!same(asJson(record), event)) throw new VerifyFailed(`trace event ${index} is not the one the validators signed`);
    });
  },
  account: (values, id, shown) => {
    sameFields(proven(values, KEYS.account(id), "account"), shown, "account", ["balances", "nonce"]);
    const holdings = proven(values, KEYS.holdings(id), "account's holdings") || [];
    const balances = Object.fromEntries(holdings.map((asset) => [asset, asJson(proven(values, KEYS.balance(id, asset), `balance of ${asset}`))]));
    if (!same(balances, shown.balances)) throw new VerifyFailed("the account's balances are not the ones the validators signed");
  },
};

// -- the trusted genesis, pinned per chain id ---------------------------------

/** The trusted genesis: pinned in this browser per chain id, or carried by
 * the link (#genesis=HASH), else pinned now from the node (trust on first use). */
export async function loadTrust(rpc) {
  const {document, hash} = await rpc("genesis_get", {});
  const name = PIN_PREFIX + document.chain_id;
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("genesis");
  if (fromLink && /^[0-9a-f]{64}$/.test(fromLink)) localStorage.setItem(name, fromLink);
  let pinned = localStorage.getItem(name);
  const firstUse = !pinned;
  if (firstUse) pinned = hash;
  let trust;
  try {
    trust = await trustFromGenesis(document, pinned);
  } catch (error) {
    error.chainId = document.chain_id;
    throw error;
  }
  if (firstUse) localStorage.setItem(name, trust.genesisHash);
  return {...trust, firstUse};
}

/** Pin a genesis hash the viewer got from elsewhere (typed, or read off a QR code). */
export function pinGenesis(chainId, hash) {
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new VerifyFailed("a genesis hash is 64 lowercase hex digits");
  localStorage.setItem(PIN_PREFIX + chainId, hash);
}

export function forgetPin(chainId) {
  localStorage.removeItem(PIN_PREFIX + chainId);
}

// -- what each page proves ------------------------------------------------------

function blockTime(header) {
  return new Date(Number(header.time_ms)).toLocaleString();
}

function line(verified) {
  return `verified at height ${verified.header.height} (block time ${blockTime(verified.header)}): `
    + `signed by ${verified.signers} of ${verified.validators} validators`;
}

/** The block page: its header and certificate; the shown header must be the signed one. */
export async function verifyBlock(trust, shown) {
  const verified = await verifyHeader(trust, fromHex(shown.header_bytes), fromHex(shown.certificate_bytes));
  if (toHex(verified.hash) !== shown.hash) throw new VerifyFailed("the block's hash is not its header's");
  const header = decodeHeader(fromHex(shown.header_bytes));
  if (!same(asJson(header), shown.header)) throw new VerifyFailed("the header shown is not the one the validators signed");
  return line(verified);
}

/** The transaction page: the transaction and its result in a signed block. */
export async function verifyTransaction(trust, rpc, id) {
  const answer = await rpc("proof_tx", {id});
  const verified = await verifyHeader(trust, fromHex(answer.header_bytes), fromHex(answer.certificate_bytes));
  const raw = fromHex(answer.tx);
  if (toHex(await sha256(raw)) !== id) throw new VerifyFailed(`the answer's transaction is not ${id}`);
  const index = answer.tx_proof.index;
  if (!Number.isInteger(index) || answer.result_proof.index !== index) throw new VerifyFailed("the transaction and its result are at different places");
  const count = Number(verified.header.tx_count);
  if (!equalBytes(await merkleRootFromProof(raw, index, count, answer.tx_proof.path.map(fromHex)), verified.header.tx_root)) {
    throw new VerifyFailed("the transaction is not in the signed block");
  }
  const leaf = fromHex(answer.result_leaf);
  if (!equalBytes(await merkleRootFromProof(leaf, index, count, answer.result_proof.path.map(fromHex)), verified.header.results_root)) {
    throw new VerifyFailed("the transaction's result is not the signed one");
  }
  return line(verified);
}

/** An object page: the getter's answer, given with proofs, checked, and the
 * fields it shows compared with the proven records. */
export async function verifyObject(trust, kind, id, answer) {
  const {verified, values} = await verifyAnswer(trust, answer);
  CHECKS[kind](values, id, answer);
  return line(verified);
}

export const PROVEN_PAGES = new Set(Object.keys(CHECKS));

export function cryptoUsed() {
  return `SHA-256 by ${cryptoPath}, Ed25519 by ${signaturePath()}`;
}
