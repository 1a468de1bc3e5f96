"""The body shape of every transaction kind: its fields and each field's check.

One declaration serves two readers. The block executor checks a body's field
names against it before the kind's handler runs (``body.missing_field``,
``body.unknown_field``); the handler then checks each field's value itself,
interleaved with its state checks, so the code recorded in a block follows
the handler's order. Admission (before the mempool) runs ``check_body_shape``
with no state at hand: the names, then every present field's check.

A field check is pure: it raises ``body.invalid`` exactly as the handler's
own check of that field does, by calling the same function. What needs state
stays with the handler and keeps its own code: that an account, order, asset
or batch exists, the sender's role. The one chain parameter a shape reads,
the list cap ``list_length_max``, is passed in by a caller that has state
(admission does; the executor's name check does not need it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any, Callable, Mapping

from commerce.body import (address_field, amount_field, bps_field, check_fields, hash_field, id_field, identifier_field,
                           list_field, text_field)
from commerce.accounts import requestable_role
from commerce.contracts import party_entry
from commerce.coupons import discount_field, parse_coupon_name, sku_entry
from commerce.errors import TxRejected
from commerce.orders import order_item, rating_field
from commerce.params import param_name
from commerce.products import attrs_field, require_change
from commerce.trace import stage_field, subject_field

FieldCheck = Callable[[Mapping[str, Any], str], object]
BodyCheck = Callable[[Mapping[str, Any]], object]


@dataclass(frozen=True, slots=True)
class Capped:
    """A field check of a list or map whose length cap is the chain parameter
    ``list_length_max``: called with the cap when it is known, without it
    (only the rest checked) when it is not."""

    check: Callable[[Mapping[str, Any], str, int | None], object]

    def __call__(self, body: Mapping[str, Any], name: str, length_max: int | None = None) -> object:
        return self.check(body, name, length_max)


@dataclass(frozen=True, slots=True)
class BodyShape:
    """The fields of one kind's body. ``across`` is a rule over the whole
    body, checked after the fields (product.update must change something)."""

    required: Mapping[str, FieldCheck]
    optional: Mapping[str, FieldCheck] = field(default_factory=dict)
    across: BodyCheck | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", MappingProxyType(dict(self.required)))
        object.__setattr__(self, "optional", MappingProxyType(dict(self.optional)))

    def check_names(self, body: Mapping[str, Any]) -> None:
        """``body.missing_field`` or ``body.unknown_field``; values are not looked at."""
        check_fields(body, tuple(self.required), tuple(self.optional))

    def check(self, body: Mapping[str, Any], list_length_max: int | None = None) -> None:
        """The names, then every present field's check (lists and maps
        within ``list_length_max`` when it is given), then ``across``."""
        self.check_names(body)
        for name, check in (*self.required.items(), *self.optional.items()):
            if name not in body:
                continue
            if isinstance(check, Capped):
                check(body, name, list_length_max)
            else:
                check(body, name)
        if self.across is not None:
            self.across(body)


def _present(body: Mapping[str, Any], name: str) -> object:
    """Presence only: the handler refuses a bad value with a code of its own
    (or never reads it), not with ``body.invalid``."""
    return body[name]


def _list_of(entry: Callable[[Any], object]) -> Capped:
    """A non-empty list whose every entry passes ``entry``."""
    def check(body: Mapping[str, Any], name: str, length_max: int | None) -> object:
        return [entry(value) for value in list_field(body, name, length_max)]
    return Capped(check)


def _coupon_name(body: Mapping[str, Any], name: str) -> object:
    """A coupon named ``batch/n``; that it exists and who holds it need state."""
    return parse_coupon_name(body[name])


_FROM_ZERO = partial(amount_field, minimum=0)
_ATTRS = Capped(attrs_field)
_PRODUCT_FIELDS: dict[str, FieldCheck] = {
    "title": text_field, "price": amount_field, "stock": _FROM_ZERO, "category": identifier_field,
}

BODY_SHAPES: dict[str, BodyShape] = {
    "account.register": BodyShape({"name": text_field}, {"referrer": address_field, "account": address_field}),
    "account.request_role": BodyShape({"role": requestable_role, "profile_hash": hash_field}),
    # role: account.no_request unless the account requested it, which needs state.
    "account.approve": BodyShape({"account": address_field, "role": _present}),
    "account.suspend": BodyShape({"account": address_field, "reason": text_field}),
    # reason: the handler never reads it.
    "account.reinstate": BodyShape({"account": address_field}, {"reason": _present}),
    "funds.mint": BodyShape({"to": address_field, "amount": amount_field}),
    # asset: only the symbol's syntax; that the asset exists needs state.
    "funds.burn": BodyShape({"amount": amount_field}, {"asset": identifier_field}),
    "funds.transfer": BodyShape({"to": address_field, "amount": amount_field}, {"asset": identifier_field}),
    "asset.issue": BodyShape({"symbol": identifier_field, "name": text_field, "supply": amount_field}),
    "product.list": BodyShape({"sku": identifier_field, **_PRODUCT_FIELDS}, {"attrs": _ATTRS}),
    "product.update": BodyShape({"sku": identifier_field}, {**_PRODUCT_FIELDS, "attrs": _ATTRS}, across=require_change),
    "order.create": BodyShape({"merchant": address_field, "items": _list_of(order_item), "shipping_hash": hash_field},
                              {"coupon": _coupon_name}),
    "order.cancel": BodyShape({"order": id_field}),
    "order.ship": BodyShape({"order": id_field, "carrier": address_field, "tracking": text_field}),
    "order.confirm": BodyShape({"order": id_field}),
    "order.refund": BodyShape({"order": id_field, "reason": text_field}, {"amount": amount_field}),
    "order.dispute": BodyShape({"order": id_field, "reason_hash": hash_field}),
    "order.resolve": BodyShape({"order": id_field, "buyer_share_bps": bps_field}),
    "review.post": BodyShape({"order": id_field, "rating": rating_field, "text_hash": hash_field}),
    "coupon.issue": BodyShape({"brand": text_field, "content": text_field, "discount": discount_field, "price": _FROM_ZERO,
                               "total": amount_field, "valid_from": _FROM_ZERO, "valid_until": _FROM_ZERO,
                               "serial_prefix": identifier_field},
                              {"offline_quota": _FROM_ZERO, "skus": _list_of(sku_entry)}),
    "coupon.buy": BodyShape({"batch": id_field}),
    "coupon.record_sale": BodyShape({"batch": id_field, "buyer": address_field, "evidence_hash": hash_field}),
    "coupon.transfer": BodyShape({"coupon": _coupon_name, "to": address_field}),
    "coupon.redeem": BodyShape({"coupon": _coupon_name}),
    "trace.record": BodyShape({"subject": subject_field, "stage": stage_field, "location": text_field, "handler": text_field,
                               "data_hash": hash_field}),
    # subject: the handler refuses any value that names no trace, text or not, with trace.unknown_event.
    "trace.correct": BodyShape({"subject": _present, "event": _FROM_ZERO, "reason": text_field, "data_hash": hash_field}),
    "contract.create": BodyShape({"asset": identifier_field, "price_per_unit": _FROM_ZERO, "parties": _list_of(party_entry),
                                  "settle_at": _FROM_ZERO, "expires_at": _FROM_ZERO, "document_hash": hash_field}),
    "contract.sign": BodyShape({"contract": id_field}),
    "contract.cancel": BodyShape({"contract": id_field}),
    # value: judged together with the current parameter set (params.invalid), which needs state.
    "params.update": BodyShape({"name": param_name, "value": _present}),
}


def shape_of(kind: str) -> BodyShape:
    """The kind's shape; ``tx.unknown_kind`` when there is no such kind."""
    shape = BODY_SHAPES.get(kind)
    if shape is None:
        raise TxRejected("tx.unknown_kind", f"no transaction kind {kind!r}; check its spelling against docs/commerce.md")
    return shape


def check_body_shape(kind: str, body: Mapping[str, Any], list_length_max: int | None = None) -> None:
    """Raise TxRejected unless the kind is known and its body is well formed,
    as far as that is known from the body and the list cap."""
    shape_of(kind).check(body, list_length_max)
