// What a person reads on each object page, above the list of every field:
// an order's way along the order table and where its money went, a coupon
// batch's sales as a bar, a trace as a timeline with its corrections, a
// contract's parties and signatures, a block's signers.
import {address, amount, el, link, time} from "./dom.js";

// The order table of docs/commerce.md section 5, the way most orders go.
const ORDER_PATH = ["created", "shipped", "delivered", "settled"];
const ROLE_NAMES = {buyer: "back to the buyer", merchant: "merchant", treasury: "treasury", validator: "validator",
                    agent: "referring agent"};

function section(title, ...children) {
  return el("section", {class: "view"}, el("h2", {}, title), ...children);
}

function order(shown, rpc) {
  const steps = el("ol", {class: "timeline", id: "order-timeline"});
  for (const entry of shown.history || []) {
    steps.append(el("li", {"data-state": entry.state}, el("strong", {}, entry.state), ` · ${entry.step} · `, time(entry.time_ms), " · ",
      entry.tx ? link("tx", entry.tx, `tx ${entry.tx.slice(0, 12)}…`) : el("span", {class: "muted"}, "by timer")));
  }
  const reached = new Set((shown.history || []).map((entry) => entry.state));
  const path = el("p", {class: "path"}, ...ORDER_PATH.flatMap((state, i) => [
    i ? " → " : "", el("span", {class: reached.has(state) ? "done" : "todo"}, state)]));
  const parts = [
    el("p", {class: "state"}, "State: ", el("strong", {id: "order-state"}, shown.state)), path,
    el("dl", {}, el("dt", {}, "merchant"), el("dd", {}, address(shown.merchant, rpc)),
      el("dt", {}, "buyer"), el("dd", {}, address(shown.buyer, rpc)),
      el("dt", {}, "total"), el("dd", {}, amount(shown.total)),
      el("dt", {}, "discount"), el("dd", {}, amount(shown.discount)),
      el("dt", {}, "escrow"), el("dd", {}, amount(shown.escrow))),
    section("Timeline", steps),
  ];
  if (shown.payouts) {
    const rows = el("tbody");
    for (const payout of shown.payouts) {
      rows.append(el("tr", {}, el("td", {}, ROLE_NAMES[payout.role] || payout.role), el("td", {}, address(payout.to, rpc)),
                     el("td", {class: "num"}, amount(payout.amount))));
    }
    const total = shown.payouts.reduce((sum, payout) => sum + Number(payout.amount), 0);
    rows.append(el("tr", {class: "total"}, el("td", {}, "escrow"), el("td", {}), el("td", {class: "num"}, amount(total))));
    parts.push(section("Where the money went", el("table", {id: "settlement"}, rows)));
  }
  return parts;
}

function couponBatch(shown) {
  const total = Number(shown.total);
  const parts = [["sold online", Number(shown.sold_online), "online"], ["sold offline", Number(shown.sold_offline), "offline"],
                 ["left", total - Number(shown.sold_online) - Number(shown.sold_offline), "left"]];
  const bar = el("div", {class: "bar", role: "img", id: "batch-bar",
    "aria-label": `${shown.sold} of ${total} sold, ${shown.redeemed} redeemed`});
  for (const [, count, kind] of parts) {
    if (count > 0) {
      const part = el("span", {class: `part ${kind}`});
      part.style.flexGrow = String(count);    // through the CSSOM: the CSP allows no style attribute
      bar.append(part);
    }
  }
  const legend = el("dl", {class: "legend"}, el("dt", {}, "declared"), el("dd", {id: "batch-total"}, String(total)),
    ...parts.flatMap(([label, count, kind]) => [el("dt", {class: kind}, label), el("dd", {id: `batch-${kind}`}, String(count))]),
    el("dt", {}, "redeemed"), el("dd", {id: "batch-redeemed"}, String(shown.redeemed)));
  const overs = Number(shown.sold) > total ? el("p", {class: "error"}, "more sold than declared") : "";
  return [el("p", {}, el("strong", {}, shown.brand), " · ", shown.content, " · ", amount(shown.price), " each"),
          bar, legend, overs];
}

function trace(shown, rpc) {
  const events = shown.events || [];
  const list = el("ol", {class: "timeline", id: "trace-timeline"});
  events.forEach((event, index) => {
    if ("correction_of" in event) return;       // shown beside the event it corrects
    const item = el("li", {}, el("strong", {}, event.stage), " · ", time(event.time_ms), el("br"),
      el("span", {}, event.location), " · ", el("span", {}, event.handler), " · by ", address(event.author, rpc), " · ",
      link("tx", event.tx, `tx ${event.tx.slice(0, 12)}…`));
    if ("corrected_by" in event) {
      const correction = events[event.corrected_by];
      item.classList.add("corrected");
      item.append(el("p", {class: "correction"}, "Corrected ", time(correction.time_ms), ": ", el("span", {}, correction.reason),
                     " · ", link("tx", correction.tx, `tx ${correction.tx.slice(0, 12)}…`)));
    }
    list.append(item);
  });
  return [el("p", {}, "Stage now: ", el("strong", {}, shown.stage)), section("From procurement to delivery", list)];
}

function contract(shown, rpc) {
  const rows = el("tbody");
  for (const party of shown.parties) {
    rows.append(el("tr", {}, el("td", {}, address(party.account, rpc)), el("td", {class: "num"}, `${party.units} ${shown.asset}`),
                   el("td", {}, party.signed ? "signed" : "not signed")));
  }
  const signed = shown.parties.filter((party) => party.signed).length;
  return [el("p", {}, "Outcome: ", el("strong", {}, shown.state), shown.reason ? ` (${shown.reason})` : ""),
          el("p", {}, `${signed} of ${shown.parties.length} parties signed · issued by `, address(shown.issuer, rpc),
             " · settles ", time(shown.settle_at), " · expires ", time(shown.expires_at)),
          section("Parties", el("table", {id: "parties"}, rows))];
}

function block(shown, rpc) {
  const list = el("ul", {class: "rows", id: "signers"});
  for (const [validator] of shown.certificate.votes) list.append(el("li", {}, address(validator, rpc)));
  return [el("p", {}, time(shown.header.time_ms), ` · ${shown.txs.length} transactions · proposed by `,
             address(shown.header.proposer, rpc)),
          section(`Signed by ${shown.certificate.votes.length} validators`, list)];
}

export const VIEWS = {order, "coupon-batch": couponBatch, trace, contract, block};
