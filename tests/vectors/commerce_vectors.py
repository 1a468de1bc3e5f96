"""Pre-state / transaction / post vectors of the commerce state machine.

Each vector: the whole state before (sorted [key hex, value hex]), the block
time, the signed transaction (hex), and what executing that one-transaction
block must give: the result leaf ``pack([ok, code, events])`` and the
write-set (a deleted key has the empty value). Regenerate with
``python -m tests.vectors.commerce_vectors`` after a deliberate rule change.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from chain.transaction import SignedTransaction
from commerce.executor import execute_block
from tests.commerce.harness import DAY_MS, GENESIS_TIME_MS, Chain, digest

PATH = Path(__file__).with_name("commerce.json")


def _market() -> tuple[Chain, Any, Any, Any]:
    chain = Chain()
    merchant, carrier = chain.register("shop", "merchant"), chain.register("post", "carrier")
    buyer = chain.register("bob")
    chain.fund(buyer, 100_000)
    chain.list_product(merchant, price=10_000, stock=5)
    return chain, merchant, carrier, buyer


def _transfer() -> tuple[Chain, SignedTransaction]:
    chain, _, _, buyer = _market()
    return chain, chain.tx(buyer, "funds.transfer", {"to": chain.treasury.address, "amount": 2_500})


def _coupon_order() -> tuple[Chain, SignedTransaction]:
    chain, merchant, _, buyer = _market()
    batch = chain.ok(merchant, "coupon.issue", {"brand": "Acme", "content": "10 off", "discount": {"kind": "amount", "value": 1_000},
                                                "price": 500, "total": 99, "valid_from": GENESIS_TIME_MS,
                                                "valid_until": GENESIS_TIME_MS + 30 * DAY_MS, "serial_prefix": "ACME"}).id
    chain.ok(buyer, "coupon.buy", {"batch": batch})
    body = {"merchant": merchant.address, "items": [{"sku": "tea", "qty": 2}], "coupon": f"{batch}/1", "shipping_hash": digest("addr")}
    return chain, chain.tx(buyer, "order.create", body)


def _shipped(chain: Chain, merchant: Any, carrier: Any, buyer: Any) -> str:
    order_id = chain.order(buyer, merchant)
    chain.ok(merchant, "order.ship", {"order": order_id, "carrier": carrier.address, "tracking": "T-1"})
    return order_id


def _delivery() -> tuple[Chain, SignedTransaction]:
    chain, merchant, carrier, buyer = _market()
    order_id = _shipped(chain, merchant, carrier, buyer)
    body = {"subject": order_id, "stage": "delivery", "location": "door", "handler": "post", "data_hash": digest("pod")}
    return chain, chain.tx(carrier, "trace.record", body)


def _confirm() -> tuple[Chain, SignedTransaction]:
    chain, merchant, carrier, buyer = _market()
    order_id = _shipped(chain, merchant, carrier, buyer)
    chain.ok(carrier, "trace.record", {"subject": order_id, "stage": "delivery", "location": "door", "handler": "post",
                                       "data_hash": digest("pod")})
    return chain, chain.tx(buyer, "order.confirm", {"order": order_id})


def _illegal_step() -> tuple[Chain, SignedTransaction]:
    chain, merchant, _, buyer = _market()
    order_id = chain.order(buyer, merchant)
    return chain, chain.tx(buyer, "order.confirm", {"order": order_id})


SCENARIOS: dict[str, Callable[[], tuple[Chain, SignedTransaction]]] = {
    "funds.transfer": _transfer, "order.create with coupon": _coupon_order, "trace.record delivery": _delivery,
    "order.confirm settlement": _confirm, "order.confirm refused (illegal step)": _illegal_step,
}


def build_vector(name: str) -> dict[str, Any]:
    chain, tx = SCENARIOS[name]()
    pre = [[key.hex(), value.hex()] for key, value in chain.store.iterate_prefix(b"")]
    time_ms = chain.time_ms + 1000
    execution = execute_block(chain.store, time_ms, [tx])
    result = execution.results[0]
    return {"name": name, "pre": pre, "block_time_ms": time_ms, "tx": tx.raw.hex(), "ok": result.ok, "code": result.code,
            "result_leaf": result.leaf_bytes().hex(),
            "write_set": [[key.hex(), (execution.write_set[key] or b"").hex()] for key in sorted(execution.write_set)]}


def main() -> None:
    document = {"about": __doc__, "vectors": [build_vector(name) for name in SCENARIOS]}
    PATH.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
