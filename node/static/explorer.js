// The explorer: one page for every address (/block/H, /order/ID, …), read
// from this node's /rpc or another node's the viewer chose, each object
// checked by the badge (badge.js). Everything users wrote on chain is set as
// text, never parsed as HTML (docs/operations.md, "The explorer").

import {
  PROVEN_PAGES, cryptoUsed, forgetPin, loadTrust, pinGenesis, verifyBlock, verifyObject, verifyTransaction,
} from "./badge.js";
import {HEX_ID, el, fields, link} from "./dom.js";
import {VIEWS} from "./views.js";

let nextId = 1;
const SOURCE_KEY = "shopchain.source";

/** The node the page reads from: this one, or another the viewer chose
 * (its RPC base URL), so one node's answers can be checked against another's. */
function source() {
  return localStorage.getItem(SOURCE_KEY) || "";
}

export async function rpc(method, params) {
  const response = await fetch(`${source()}/rpc`, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({jsonrpc: "2.0", id: nextId++, method, params})});
  const answer = await response.json();
  if (answer.error) {
    const error = new Error(answer.error.message);
    error.code = answer.error.data ? answer.error.data.code : String(answer.error.code);
    throw error;
  }
  return answer.result;
}

function show(...children) {
  const page = document.getElementById("page");
  page.replaceChildren(...children);
}

async function home() {
  const status = await rpc("chain_status", {});
  const blocks = el("ul", {class: "rows", id: "latest-blocks"});
  const items = [];
  for (let height = status.height; height > Math.max(0, status.height - 10); height--) {
    const block = await rpc("block_get", {height});
    items.push(el("li", {}, link("block", String(block.height)), ` · ${block.txs.length} transactions · `,
                  new Date(block.header.time_ms).toLocaleString()));
  }
  blocks.append(...items);
  const latest = [];
  for (const [kind, title] of [["order", "Latest orders"], ["coupon-batch", "Latest coupon batches"]]) {
    const list = el("ul", {class: "rows", id: `latest-${kind}`});
    for (const item of (await rpc("latest_created", {kind, limit: 5})).items) {
      list.append(el("li", {}, link(kind, item.id), ` · block ${item.created_height}`));
    }
    latest.push(el("h2", {}, title), list.children.length ? list : el("p", {class: "muted"}, "none yet"));
  }
  show(el("h1", {}, `Chain ${status.chain_id}`),
       fields({height: status.height, view: status.view, validators: status.validators.length, peers: status.peers.length,
               last_block_time_ms: status.last_block_time_ms}),
       el("p", {class: "muted"}, "Updates live as blocks commit."), ...latest, el("h2", {}, "Latest blocks"), blocks);
}

// path kind -> (title, RPC method, its parameter)
const PAGES = {
  block: ["Block", "block_get", "height"], tx: ["Transaction", "tx_get", "id"],
  account: ["Account", "account_get", "address"], product: ["Product", "product_get", "product"],
  order: ["Order", "order_get", "order"], "coupon-batch": ["Coupon batch", "coupon_batch_get", "batch"],
  coupon: ["Coupon", "coupon_get", "coupon"], trace: ["Trace", "trace_get", "subject"],
  contract: ["Contract", "contract_get", "contract"],
};

// The parts of an answer that carry its proof: checked by the badge, not listed.
const PROOF_FIELDS = new Set(["header_bytes", "certificate", "certificate_bytes", "proofs"]);

async function objectPage(kind, value) {
  const [title, method, param] = PAGES[kind];
  const argument = kind === "block" ? Number(value) : value;
  const proven = PROVEN_PAGES.has(kind);
  const found = await rpc(method, {[param]: argument, ...(proven ? {prove: true} : {})});
  const shown = Object.fromEntries(Object.entries(found).filter(([name]) => !PROOF_FIELDS.has(name)
                                                                && !(proven && name === "header")));
  document.title = `${title} ${value} · Shopchain`;
  const badge = el("p", {id: "badge", class: "badge pending"}, "checking against the validators' signatures…");
  const trustLine = el("p", {id: "trust", class: "muted"});
  const actions = kind === "trace" ? [epcisButton(value)] : [];
  const view = kind in VIEWS ? [...VIEWS[kind](found, rpc), el("details", {}, el("summary", {}, "Every field"), fields(shown))]
    : [fields(shown)];
  show(el("h1", {}, `${title} `, el("span", {class: "id"}, value)), badge, ...actions, ...view, trustLine);
  await checkBadge(badge, trustLine, () => {
    if (kind === "block") return (trust) => verifyBlock(trust, found);
    if (kind === "tx") return (trust) => verifyTransaction(trust, rpc, value);
    return (trust) => verifyObject(trust, kind, value, found);
  });
}

/** Fill the badge: what was verified, or what did not check. */
async function checkBadge(badge, trustLine, checker) {
  let trust;
  try {
    trust = await loadTrust(rpc);
  } catch (error) {
    badge.className = "badge bad";
    badge.textContent = `not verified: ${error.message} — this node serves another chain under the same id, `
      + "or the pin is wrong; forget the pin only if you trust this node's genesis";
    trustLine.replaceChildren(forgetButton(error.chainId), pinForm(error.chainId));
    return;
  }
  trustLine.replaceChildren(`Trusted genesis of ${trust.chainId}: `, el("span", {class: "id", id: "genesis-hash"}, trust.genesisHash),
    trust.firstUse ? " (pinned now, on first use: compare it with a hash from elsewhere) " : " (pinned in this browser) ",
    forgetButton(trust.chainId), ` · ${cryptoUsed()}`, pinForm(trust.chainId), sourceForm(), trustModel());
  try {
    badge.textContent = await checker()(trust);
    badge.className = "badge ok";
  } catch (error) {
    badge.className = "badge bad";
    badge.textContent = `not verified: ${error.message}`;
  }
}

/** The trace as a GS1 EPCIS 2.0 document (trace_export), saved as a file. */
function epcisButton(subject) {
  const button = el("button", {type: "button", id: "epcis"}, "Download EPCIS 2.0 (JSON-LD)");
  button.addEventListener("click", async () => {
    const exported = await rpc("trace_export", {subject});
    const file = new Blob([JSON.stringify(exported.document, null, 1)], {type: "application/ld+json"});
    const anchor = el("a", {href: URL.createObjectURL(file), download: `${subject.replaceAll("/", "_")}.epcis.jsonld`});
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  });
  return button;
}

/** The trust model, in a few lines (docs/operations.md, "What the badge proves"). */
function trustModel() {
  return el("details", {id: "trust-model"}, el("summary", {}, "What the badge proves"),
    el("p", {}, "Your browser checks what this page shows: the block's header carries the signatures of the chain's "
      + "validators (listed in the genesis whose hash is pinned above), and every value shown is proven against that "
      + "header by a Merkle proof. A node that lies in its answers is caught."),
    el("p", {}, "This page's code comes from the node it reads, so a node that also changed the page could fool it. "
      + "Open the page from a node you trust and read from the one you want to check (below), and compare the genesis "
      + "hash with one from elsewhere, or open a link that carries it (#genesis=HASH)."));
}

/** Pin a genesis hash typed in (from a printout, another node, a QR code). */
function pinForm(chainId) {
  const input = el("input", {id: "pin", placeholder: "genesis hash from elsewhere", spellcheck: "false", autocomplete: "off"});
  const form = el("form", {id: "pin-form", class: "inline-form"}, el("label", {for: "pin"}, "Pin a genesis hash: "), input,
                  el("button", {}, "Pin"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      pinGenesis(chainId, input.value.trim().toLowerCase());
      history.replaceState(null, "", location.pathname + location.search);
      location.reload();
    } catch (error) {
      input.setCustomValidity(error.message);
      input.reportValidity();
    }
  });
  return form;
}

/** Where the page reads from, and a way to read from another node. */
function sourceForm() {
  const input = el("input", {id: "source", type: "url", placeholder: "http://ANOTHER-NODE:26657", value: source()});
  const form = el("form", {id: "source-form", class: "inline-form"}, el("label", {for: "source"}, "Read from node: "), input,
                  el("button", {}, "Use"), " ", el("span", {id: "source-now"}, source() ? `reading from ${source()}` : "reading from this node"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = input.value.trim().replace(/\/+$/, "");
    if (chosen) localStorage.setItem(SOURCE_KEY, new URL(chosen).origin); else localStorage.removeItem(SOURCE_KEY);
    location.reload();
  });
  return form;
}

function forgetButton(chainId) {
  const button = el("button", {type: "button", id: "forget-pin"}, "Forget this chain's pin");
  button.addEventListener("click", () => {
    forgetPin(chainId);
    history.replaceState(null, "", location.pathname + location.search);   // a #genesis= link would pin it again
    location.reload();
  });
  return button;
}

// What a search box entry may be, tried in this order; the first object found wins,
// except serials and tracking numbers, which may name several (one per merchant).
async function search(needle) {
  const text = needle.trim();
  if (/^\d+$/.test(text)) return [`/block/${text}`];
  if (HEX_ID.test(text)) {
    for (const [kind, method, param] of [["order", "order_get", "order"], ["coupon-batch", "coupon_batch_get", "batch"],
                                         ["contract", "contract_get", "contract"], ["tx", "tx_get", "id"],
                                         ["account", "account_get", "address"]]) {
      if (await exists(method, {[param]: text})) return [`/${kind}/${text}`];
    }
    return [];
  }
  const parts = text.split("/");
  if (parts.length === 2 && /^\d+$/.test(parts[1])) return (await exists("coupon_get", {coupon: text})) ? [`/coupon/${text}`] : [];
  if (parts.length === 2) return (await exists("product_get", {product: text})) ? [`/product/${text}`] : [];
  if (parts.length === 3) return (await exists("trace_get", {subject: text})) ? [`/trace/${text}`] : [];
  const coupons = (await rpc("coupons_by_serial", {serial: text})).items;
  const orders = (await rpc("orders_by_tracking", {tracking: text})).items;
  return [...coupons.map((item) => [`/coupon/${item.coupon}`, `coupon ${item.serial} of merchant ${item.merchant}`]),
          ...orders.map((item) => [`/order/${item.order}`, `order ${item.order} of merchant ${item.merchant}`])];
}

async function exists(method, params) {
  try { await rpc(method, params); return true; } catch (error) { return false; }
}

async function searchPage(needle) {
  const found = await search(needle);
  if (found.length === 1) { location.replace(Array.isArray(found[0]) ? found[0][0] : found[0]); return; }
  const list = el("ul", {class: "rows"});
  for (const [href, label] of found) list.append(el("li", {}, el("a", {href}, label)));
  show(el("h1", {}, "Search: ", needle), found.length ? list : el("p", {}, "Nothing on this chain matches that."));
}

// The /ws topic whose notifications change an object page; it re-reads the
// object, with its proof, on each.
const LIVE_TOPICS = {"coupon-batch": "events:coupon:", order: "events:order:", trace: "events:trace:", account: "events:account:"};

function followLive(topic, refresh) {
  const base = new URL(source() || location.origin);
  const socket = new WebSocket(`${base.protocol === "https:" ? "wss" : "ws"}://${base.host}/ws`);
  let pending = null;
  socket.addEventListener("open", () => socket.send(JSON.stringify({jsonrpc: "2.0", id: 1, method: "subscribe", params: {topic}})));
  socket.addEventListener("message", (message) => {
    if (JSON.parse(message.data).method !== "notification" || pending) return;
    pending = setTimeout(async () => { pending = null; await refresh(); }, 300);   // one re-read for a burst of events
  });
}

async function route() {
  const path = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(location.search).get("q");
  try {
    if (path.length === 0 && query) await searchPage(query);
    else if (path.length === 0) {
      await home();
      followLive("blocks", () => home().catch(() => {}));
    }
    else if (path[0] in PAGES && path.length > 1) {
      const [kind, value] = [path[0], path.slice(1).join("/")];
      await objectPage(kind, value);
      if (kind in LIVE_TOPICS) followLive(LIVE_TOPICS[kind] + value, () => objectPage(kind, value).catch(() => {}));
    }
    else show(el("h1", {}, "No such page"), el("p", {}, el("a", {href: "/"}, "Back to the chain")));
  } catch (error) {
    show(el("h1", {}, "Not found"), el("p", {class: "error"}, `${error.code || "error"}: ${error.message}`));
  }
}

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  location.assign(`/?q=${encodeURIComponent(document.getElementById("needle").value.trim())}`);
});
route();
