"""Products: product.list and product.update, by the owning merchant only.

A product is ``merchant/sku``; its stock is reserved by order.create and
given back by cancel and refund.
"""
from __future__ import annotations

from typing import Any, Mapping

from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.accounts import require_role
from commerce.body import amount_field, identifier_field, text_field
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.keys import product_key
from commerce.overlay import Overlay
from commerce.records import get_param, get_record, put_record

UPDATABLE_FIELDS = ("title", "price", "stock", "category", "attrs")


def get_product(state: KeyValueReader, merchant: str, sku: str) -> dict[str, Any] | None:
    return get_record(state, product_key(merchant, sku))


def put_product(state: Overlay, product: dict[str, Any]) -> None:
    put_record(state, product_key(product["merchant"], product["sku"]), product)


def attrs_field(body: Mapping[str, Any], name: str, length_max: int | None = None) -> dict[str, str]:
    """A map of text to text of at most ``length_max`` entries. The cap is the
    chain parameter ``list_length_max``: without it only the rest is checked."""
    attrs = body[name]
    # Verify attrs is a small map of text to text
    if not isinstance(attrs, dict) or (length_max is not None and len(attrs) > length_max) or not all(
        isinstance(value, str) and len(value.encode()) <= 256 for value in attrs.values()
    ):
        raise TxRejected("body.invalid", f"field {name} must be a map of text to text within the list cap; fix the body")
    return attrs


def require_change(body: Mapping[str, Any]) -> None:
    """product.update names at least one field to change."""
    # Verify something changes
    if not any(name in body for name in UPDATABLE_FIELDS):
        raise TxRejected("body.missing_field", f"name at least one of {', '.join(UPDATABLE_FIELDS)} to change")


def _checked_fields(state: KeyValueReader, body: dict[str, Any]) -> dict[str, Any]:
    checks = {
        "title": lambda: text_field(body, "title"),
        "price": lambda: amount_field(body, "price"),
        "stock": lambda: amount_field(body, "stock", minimum=0),
        "category": lambda: identifier_field(body, "category"),
        "attrs": lambda: attrs_field(body, "attrs", get_param(state, "list_length_max")),
    }
    return {name: checks[name]() for name in UPDATABLE_FIELDS if name in body}


def process_product_list(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_role(state, ctx.sender, "merchant")
    sku = identifier_field(body, "sku")
    fields = _checked_fields(state, body)
    # Verify the sku is new for this merchant
    if get_product(state, ctx.sender, sku) is not None:
        raise TxRejected("product.exists", f"you already list {sku!r}; use product.update")
    put_product(state, {"merchant": ctx.sender, "sku": sku, "attrs": {}, **fields})
    ctx.emit("product.listed", product=f"{ctx.sender}/{sku}")


def process_product_update(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    sku = identifier_field(body, "sku")
    product = get_product(state, ctx.sender, sku)
    # Verify the sender owns the product (products are keyed by their owner)
    if product is None:
        raise TxRejected("product.unknown", f"you list no product {sku!r}; only the owner updates a product")
    fields = _checked_fields(state, body)
    require_change(body)
    put_product(state, {**product, **fields})
    ctx.emit("product.updated", product=f"{ctx.sender}/{sku}", fields=sorted(fields))
