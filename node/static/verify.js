// Checking what a node says, in the browser, against the validators'
// signatures alone (docs/operations.md, "What the badge proves"): the
// protocol's canonical MessagePack, SHA-256 and Ed25519, the genesis and its
// validator set, a header's commit certificate, state proofs and Merkle
// proofs, as docs/protocol.md defines them and chain/light.py checks them.
// WebCrypto has SHA-256 and Ed25519 only in a secure context (https,
// localhost); elsewhere the vendored, audited libraries do the same work.
import {sha256 as nobleSha256} from "./vendor/noble-hashes-2.0.1/sha2.js";

export class VerifyFailed extends Error {}

// -- bytes --------------------------------------------------------------------

export function fromHex(text) {
  if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) throw new VerifyFailed(`not lowercase hex: ${String(text).slice(0, 20)}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

export function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", {fatal: true});

// -- canonical MessagePack (chain/encoding.py) --------------------------------
// Values: booleans, integers (Number when safe, else BigInt), text, byte
// strings (Uint8Array), arrays, and maps with text keys (plain objects).

const MAX_DEPTH = 64;

export function pack(value) {
  const out = [];
  packInto(value, out, 0);
  return Uint8Array.from(out);
}

function pushUint(out, value, bytes) {
  for (let i = bytes - 1; i >= 0; i--) out.push(Number((BigInt(value) >> BigInt(8 * i)) & 0xffn));
}

function packInto(value, out, depth) {
  if (depth > MAX_DEPTH) throw new VerifyFailed("nested too deeply");
  if (value === true || value === false) { out.push(value ? 0xc3 : 0xc2); return; }
  if (typeof value === "number" || typeof value === "bigint") { packInt(BigInt(value), out); return; }
  if (typeof value === "string") {
    const raw = utf8.encode(value);
    if (raw.length < 32) out.push(0xa0 | raw.length);
    else if (raw.length < 256) out.push(0xd9, raw.length);
    else if (raw.length < 65536) { out.push(0xda); pushUint(out, raw.length, 2); } else { out.push(0xdb); pushUint(out, raw.length, 4); }
    out.push(...raw);
    return;
  }
  if (value instanceof Uint8Array) {
    if (value.length < 256) out.push(0xc4, value.length);
    else if (value.length < 65536) { out.push(0xc5); pushUint(out, value.length, 2); } else { out.push(0xc6); pushUint(out, value.length, 4); }
    for (const b of value) out.push(b);
    return;
  }
  if (Array.isArray(value)) {
    lengthHeader(out, value.length, 0x90, 0xdc, 0xdd);
    for (const item of value) packInto(item, out, depth + 1);
    return;
  }
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => compareBytes(utf8.encode(a), utf8.encode(b)));
    lengthHeader(out, keys.length, 0x80, 0xde, 0xdf);
    for (const key of keys) { packInto(key, out, depth + 1); packInto(value[key], out, depth + 1); }
    return;
  }
  throw new VerifyFailed(`a value the protocol cannot encode: ${typeof value}`);
}

function lengthHeader(out, n, fix, h16, h32) {
  if (n < 16) out.push(fix | n);
  else if (n < 65536) { out.push(h16); pushUint(out, n, 2); } else { out.push(h32); pushUint(out, n, 4); }
}

function packInt(n, out) {
  if (n >= 0n) {
    if (n < 128n) out.push(Number(n));
    else if (n < 256n) out.push(0xcc, Number(n));
    else if (n < 65536n) { out.push(0xcd); pushUint(out, n, 2); } else if (n < 2n ** 32n) { out.push(0xce); pushUint(out, n, 4); } else if (n < 2n ** 64n) { out.push(0xcf); pushUint(out, n, 8); } else throw new VerifyFailed("an integer above 2^64 - 1");
    return;
  }
  if (n >= -32n) out.push(Number(n & 0xffn));
  else if (n >= -128n) { out.push(0xd0); pushUint(out, n & 0xffn, 1); } else if (n >= -32768n) { out.push(0xd1); pushUint(out, n & 0xffffn, 2); } else if (n >= -(2n ** 31n)) { out.push(0xd2); pushUint(out, n & 0xffffffffn, 4); } else if (n >= -(2n ** 63n)) { out.push(0xd3); pushUint(out, BigInt.asUintN(64, n), 8); } else throw new VerifyFailed("an integer below -2^63");
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** The value of canonical bytes; anything else (floats, nil, ext, unsorted
 * keys, non-minimal forms, trailing bytes) is refused, as chain/encoding.py does. */
export function unpack(bytes) {
  const reader = {bytes, at: 0};
  const value = readValue(reader, 0);
  if (reader.at !== bytes.length) throw new VerifyFailed("trailing bytes after the value");
  if (!equalBytes(pack(value), bytes)) throw new VerifyFailed("bytes that are not the canonical encoding");
  return value;
}

function take(reader, n) {
  if (reader.at + n > reader.bytes.length) throw new VerifyFailed("the bytes end too soon");
  const out = reader.bytes.subarray(reader.at, reader.at + n);
  reader.at += n;
  return out;
}

function readUint(reader, n) {
  let value = 0n;
  for (const b of take(reader, n)) value = (value << 8n) | BigInt(b);
  return value;
}

function integer(n) {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function readValue(reader, depth) {
  if (depth > MAX_DEPTH) throw new VerifyFailed("nested too deeply");
  const tag = take(reader, 1)[0];
  if (tag < 0x80) return tag;
  if (tag >= 0xe0) return tag - 256;
  if ((tag & 0xf0) === 0x80) return readMap(reader, tag & 0x0f, depth);
  if ((tag & 0xf0) === 0x90) return readArray(reader, tag & 0x0f, depth);
  if ((tag & 0xe0) === 0xa0) return utf8Strict.decode(take(reader, tag & 0x1f));
  switch (tag) {
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return take(reader, Number(readUint(reader, 1))).slice();
    case 0xc5: return take(reader, Number(readUint(reader, 2))).slice();
    case 0xc6: return take(reader, Number(readUint(reader, 4))).slice();
    case 0xcc: return integer(readUint(reader, 1));
    case 0xcd: return integer(readUint(reader, 2));
    case 0xce: return integer(readUint(reader, 4));
    case 0xcf: return integer(readUint(reader, 8));
    case 0xd0: return integer(BigInt.asIntN(8, readUint(reader, 1)));
    case 0xd1: return integer(BigInt.asIntN(16, readUint(reader, 2)));
    case 0xd2: return integer(BigInt.asIntN(32, readUint(reader, 4)));
    case 0xd3: return integer(BigInt.asIntN(64, readUint(reader, 8)));
    case 0xd9: return utf8Strict.decode(take(reader, Number(readUint(reader, 1))));
    case 0xda: return utf8Strict.decode(take(reader, Number(readUint(reader, 2))));
    case 0xdb: return utf8Strict.decode(take(reader, Number(readUint(reader, 4))));
    case 0xdc: return readArray(reader, Number(readUint(reader, 2)), depth);
    case 0xdd: return readArray(reader, Number(readUint(reader, 4)), depth);
    case 0xde: return readMap(reader, Number(readUint(reader, 2)), depth);
    case 0xdf: return readMap(reader, Number(readUint(reader, 4)), depth);
    default: throw new VerifyFailed(`a MessagePack type the protocol does not use (0x${tag.toString(16)})`);
  }
}

function readArray(reader, n, depth) {
  if (n > reader.bytes.length - reader.at) throw new VerifyFailed("an array longer than its bytes");
  const out = [];
  for (let i = 0; i < n; i++) out.push(readValue(reader, depth + 1));
  return out;
}

function readMap(reader, n, depth) {
  if (n > reader.bytes.length - reader.at) throw new VerifyFailed("a map longer than its bytes");
  const out = Object.create(null);
  for (let i = 0; i < n; i++) {
    const key = readValue(reader, depth + 1);
    if (typeof key !== "string") throw new VerifyFailed("a map key that is not text");
    if (key in out) throw new VerifyFailed("a map key given twice");
    out[key] = readValue(reader, depth + 1);
  }
  return out;
}

// -- hashing and signatures ---------------------------------------------------

// "webcrypto" or "fallback"; ?crypto=fallback forces the vendored libraries.
export const cryptoPath = (globalThis.crypto && globalThis.crypto.subtle
  && new URLSearchParams(globalThis.location ? location.search : "").get("crypto") !== "fallback") ? "webcrypto" : "fallback";

export async function sha256(bytes) {
  if (cryptoPath === "webcrypto") return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return nobleSha256(bytes);
}

let webEd25519 = cryptoPath === "webcrypto";

export async function verifySignature(publicKey, message, signature) {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (webEd25519) {
    try {
      const key = await crypto.subtle.importKey("raw", publicKey, {name: "Ed25519"}, false, ["verify"]);
      return await crypto.subtle.verify({name: "Ed25519"}, key, signature, message);
    } catch (error) {
      if (error instanceof DOMException && error.name === "NotSupportedError") webEd25519 = false;
      else return false;
    }
  }
  return globalThis.nacl.sign.detached.verify(message, signature, publicKey);
}

export function signaturePath() {
  return webEd25519 ? "webcrypto" : "fallback";
}

export function signingBytes(purpose, fields) {
  return concat(utf8.encode(`shopchain/${purpose}/v1\0`), pack(fields));
}

// -- genesis, headers and certificates (chain/light.py) ------------------------

export function quorumSize(n) {
  return Math.floor(2 * n / 3) + 1;
}

/** What the page trusts: a genesis document whose hash is the pinned one. */
export async function trustFromGenesis(document, expectedHashHex) {
  for (const [name, value] of Object.entries(document)) checkJsonInteger(value, name);
  const hash = toHex(await sha256(pack(document)));
  if (expectedHashHex && hash !== expectedHashHex) {
    throw new VerifyFailed(`the node's genesis hashes to ${hash}, not the pinned ${expectedHashHex}`);
  }
  const validators = document.validators.map(fromHex);
  return {chainId: document.chain_id, genesisHash: hash, validators,
          validatorsHash: await sha256(pack(validators))};
}

function checkJsonInteger(value, name) {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new VerifyFailed(`genesis field ${name} holds a number this page cannot read exactly`);
  }
  if (value && typeof value === "object") for (const [key, item] of Object.entries(value)) checkJsonInteger(item, key);
}

const HEADER_FIELDS = ["chain_id", "evidence_root", "height", "next_validators_hash", "prev_hash", "proposer",
  "results_root", "state_root", "time_ms", "tx_count", "tx_root", "validators_hash", "version"];

export function decodeHeader(bytes) {
  const header = unpack(bytes);
  if (!header || Array.isArray(header) || typeof header !== "object"
      || Object.keys(header).sort().join() !== HEADER_FIELDS.join()) {
    throw new VerifyFailed(`a header has exactly the fields ${HEADER_FIELDS.join(", ")}`);
  }
  return header;
}

export function decodeCertificate(bytes, maxVotes) {
  const c = unpack(bytes);
  if (!c || typeof c !== "object" || Object.keys(c).sort().join() !== "block_hash,height,view,votes"
      || !Array.isArray(c.votes) || c.votes.length > maxVotes
      || !c.votes.every((v) => Array.isArray(v) && v.length === 2 && v[0] instanceof Uint8Array && v[1] instanceof Uint8Array)) {
    throw new VerifyFailed("the certificate is not {block_hash, height, view, votes: [[validator, signature]]}");
  }
  return c;
}

/** The header, once a quorum of the trusted validators signed COMMIT for its hash. */
export async function verifyHeader(trust, headerBytes, certificateBytes) {
  const header = decodeHeader(headerBytes);
  const certificate = decodeCertificate(certificateBytes, trust.validators.length);
  if (header.chain_id !== trust.chainId) throw new VerifyFailed(`the header is of chain ${header.chain_id}, not ${trust.chainId}`);
  if (!equalBytes(header.validators_hash, trust.validatorsHash) || !equalBytes(header.next_validators_hash, trust.validatorsHash)) {
    throw new VerifyFailed("the header names another validator set than the genesis one");
  }
  const hash = await sha256(headerBytes);
  if (certificate.height !== header.height || !equalBytes(certificate.block_hash, hash)) {
    throw new VerifyFailed("the commit certificate is for another block than this header");
  }
  const seen = new Set();
  for (const [validator, signature] of certificate.votes) {
    const key = toHex(validator);
    if (!trust.validators.some((v) => equalBytes(v, validator))) throw new VerifyFailed(`the certificate counts ${key}, not a validator`);
    if (seen.has(key)) throw new VerifyFailed(`the certificate counts validator ${key} twice`);
    seen.add(key);
    const message = signingBytes("vote", [trust.chainId, "commit", header.height, certificate.view, hash]);
    if (!await verifySignature(validator, message, signature)) {
      throw new VerifyFailed(`the signature of validator ${key.slice(0, 16)}… on this block does not check`);
    }
  }
  if (seen.size < quorumSize(trust.validators.length)) {
    throw new VerifyFailed(`only ${seen.size} of ${trust.validators.length} validators signed; a quorum is ${quorumSize(trust.validators.length)}`);
  }
  return {header, hash, signers: seen.size, validators: trust.validators.length};
}

// -- Merkle proofs (chain/merkle.py, RFC 9162) --------------------------------

export async function merkleRootFromProof(item, index, treeSize, path) {
  if (!(index >= 0 && index < treeSize)) throw new VerifyFailed(`index ${index} is outside a tree of ${treeSize} leaves`);
  let nodeIndex = index, lastIndex = treeSize - 1;
  let digest = await sha256(concat(Uint8Array.of(0), item));
  for (const sibling of path) {
    if (sibling.length !== 32 || lastIndex === 0) throw new VerifyFailed("the Merkle path is longer than the tree is deep");
    if (nodeIndex & 1 || nodeIndex === lastIndex) {
      digest = await sha256(concat(Uint8Array.of(1), sibling, digest));
      while (!(nodeIndex & 1) && nodeIndex) { nodeIndex >>= 1; lastIndex >>= 1; }
    } else {
      digest = await sha256(concat(Uint8Array.of(1), digest, sibling));
    }
    nodeIndex >>= 1; lastIndex >>= 1;
  }
  if (lastIndex !== 0) throw new VerifyFailed("the Merkle path is shorter than the tree is deep");
  return digest;
}

// -- state proofs (chain/state_tree.py, sparse-merkle-16/sha256) --------------

const RADIX_BITS = 4;
const EMPTY_ROOT = new Uint8Array(32);

function digitOf(path, depth) {
  const start = depth * RADIX_BITS;
  return (path[start >> 3] >> (8 - RADIX_BITS - (start & 7))) & ((1 << RADIX_BITS) - 1);
}

export function decodeStateProof(bytes) {
  const decoded = unpack(bytes);
  if (!Array.isArray(decoded) || decoded.length !== 2 || !Array.isArray(decoded[0]) || !Array.isArray(decoded[1])) {
    throw new VerifyFailed("the state proof is not [levels, end]");
  }
  const [levels, end] = decoded;
  if (levels.length > 256 / RADIX_BITS) throw new VerifyFailed("the state proof is deeper than the tree can be");
  const parsed = levels.map((level) => {
    if (!Array.isArray(level) || level.length !== 2 || !(level[0] instanceof Uint8Array) || level[0].length !== 2
        || !Array.isArray(level[1]) || !level[1].every((s) => s instanceof Uint8Array && s.length === 32)) {
      throw new VerifyFailed("a state proof level is [bitmap, [32-byte hashes]]");
    }
    return [(level[0][0] << 8) | level[0][1], level[1]];
  });
  if (end.length && !(end.length === 2 && end.every((x) => x instanceof Uint8Array && x.length === 32))) {
    throw new VerifyFailed("the state proof's end is [] or [path, value hash]");
  }
  return {levels: parsed, leaf: end.length ? {path: end[0], hashedValue: end[1]} : null};
}

/** Throws unless the proof shows state key ``key`` holds ``value`` (null: nothing) under ``root``. */
export async function verifyStateProof(root, key, value, proof) {
  const path = await sha256(key);
  const hashedValue = value === null ? null : await sha256(value);
  const {levels, leaf} = proof;
  if (hashedValue !== null) {
    if (!leaf || !equalBytes(leaf.path, path) || !equalBytes(leaf.hashedValue, hashedValue)) {
      throw new VerifyFailed("the proof ends in another leaf than the key's");
    }
  } else if (leaf) {
    if (equalBytes(leaf.path, path)) throw new VerifyFailed("the proof shows the key present");
    for (let d = 0; d < levels.length; d++) {
      if (digitOf(leaf.path, d) !== digitOf(path, d)) throw new VerifyFailed("the proof's leaf is not on the key's way");
    }
  }
  let current = leaf ? await sha256(concat(Uint8Array.of(2), leaf.path, leaf.hashedValue)) : null;
  for (let level = levels.length - 1; level >= 0; level--) {
    const [bitmap, siblings] = levels[level];
    const here = digitOf(path, level);
    if ((current === null) === Boolean((bitmap >> here) & 1)) throw new VerifyFailed(`the bitmap at depth ${level} does not fit the way`);
    const digits = [...Array(1 << RADIX_BITS).keys()].filter((d) => (bitmap >> d) & 1);
    const others = digits.filter((d) => d !== here);
    if (others.length !== siblings.length || !digits.length) throw new VerifyFailed(`the siblings at depth ${level} do not fit the bitmap`);
    const hashes = new Map(others.map((d, i) => [d, siblings[i]]));
    if (current !== null) hashes.set(here, current);
    const ordered = [...hashes.keys()].sort((a, b) => a - b).map((d) => hashes.get(d));
    current = await sha256(concat(Uint8Array.of(3, bitmap >> 8, bitmap & 0xff), ...ordered));
  }
  if (!equalBytes(current || EMPTY_ROOT, root)) throw new VerifyFailed("the proof does not lead to the state root");
}

/** The proven values of a getter's answer given with ``prove: true``: every
 * proof against the signed header of the answer's height. */
export async function verifyAnswer(trust, answer) {
  if (!answer.header_bytes || !answer.certificate_bytes || !Array.isArray(answer.proofs)) {
    throw new VerifyFailed("the answer carries no proofs");
  }
  const verified = await verifyHeader(trust, fromHex(answer.header_bytes), fromHex(answer.certificate_bytes));
  if (answer.height !== verified.header.height) throw new VerifyFailed(`the answer says height ${answer.height}, its header ${verified.header.height}`);
  const values = new Map();
  for (const item of answer.proofs) {
    const value = item.value === null ? null : fromHex(item.value);
    try {
      await verifyStateProof(verified.header.state_root, fromHex(item.key), value, decodeStateProof(fromHex(item.proof)));
    } catch (error) {
      throw new VerifyFailed(`the proof of state key ${item.key.slice(0, 16)}… does not hold: ${error.message}`);
    }
    values.set(item.key, value);
  }
  return {verified, values};
}
