// Building the page's nodes. Everything users wrote on chain is set as text
// (textContent, attributes), never parsed as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

export const HEX_ID = /^[0-9a-f]{64}$/;

// Which page a field's value leads to, by the field's name.
const LINKS = {
  account: "account", address: "account", buyer: "account", merchant: "account", holder: "account",
  author: "account", carrier: "account", sender: "account", proposer: "account", issuer: "account",
  to: "account", from: "account", referrer: "account",
  tx: "tx", id: "tx", order: "order", batch: "coupon-batch", coupon: "coupon", contract: "contract",
};

export function link(kind, value, label = value) {
  return el("a", {href: `/${kind}/${value.split("/").map(encodeURIComponent).join("/")}`, class: "id"}, label);
}

export function time(ms) {
  return el("time", {datetime: new Date(Number(ms)).toISOString(), title: `${ms} ms`}, new Date(Number(ms)).toLocaleString());
}

export function amount(value, asset = "SHC") {
  return el("span", {class: "amount"}, `${Number(value).toLocaleString()} ${asset}`);
}

const names = new Map();

/** An address: shortened, linked, with a copy button and, once known, the
 * account's name beside it (names are not unique, so never instead of it). */
export function address(value, rpc) {
  const short = `${value.slice(0, 8)}…${value.slice(-6)}`;
  const name = el("span", {class: "name"});
  const copy = el("button", {type: "button", class: "copy", title: "copy the full address", "aria-label": "copy address"}, "copy");
  copy.addEventListener("click", () => navigator.clipboard ? navigator.clipboard.writeText(value) : window.prompt("Address", value));
  if (rpc) {
    if (!names.has(value)) names.set(value, rpc("account_get", {address: value}).then((a) => a.name || "").catch(() => ""));
    names.get(value).then((text) => { if (text) name.textContent = text; });
  }
  return el("span", {class: "address", title: value}, link("account", value, short), copy, name);
}

// Fields that hold an amount of the native asset (the commerce records' own names).
const AMOUNTS = new Set(["price", "amount", "total_paid", "escrow", "discount", "refunded", "price_per_unit"]);

export function valueNode(name, value) {
  if (value === null || value === undefined) return el("span", {class: "muted"}, "—");
  if (Array.isArray(value)) {
    const list = el("ul", {class: "rows"});
    for (const item of value) list.append(el("li", {}, valueNode(name, item)));
    return value.length ? list : el("span", {class: "muted"}, "none");
  }
  if (typeof value === "object") return fields(value);
  if (typeof value === "number" && name.endsWith("_ms") && value > 1e12) return time(value);
  if (typeof value === "number" && AMOUNTS.has(name)) return amount(value);
  const text = String(value);
  const kind = LINKS[name];
  if (kind && (HEX_ID.test(text) || (kind === "coupon" && /^[0-9a-f]{64}\/\d+$/.test(text)))) return link(kind, text);
  return el("span", {class: HEX_ID.test(text) ? "id" : ""}, text);
}

export function fields(object) {
  const list = el("dl");
  for (const [name, value] of Object.entries(object)) list.append(el("dt", {}, name), el("dd", {}, valueNode(name, value)));
  return list;
}
