"""Limited coupon batches: coupon.issue, buy, record_sale, transfer, redeem.

A batch declares ``total`` coupons, of which ``offline_quota`` are kept for
offline sales: online ≤ total − offline_quota and online + offline ≤ total.
A coupon is ``batch/n``, n one counter over both channels from 1. Every
sale, transfer and redemption is appended to the coupon's history with the
transaction id that proves it; nothing is ever overwritten.

``valid_until`` is the last millisecond a coupon of the batch can be sold,
moved or used (a block whose time is past it refuses them with
``coupon.expired``). Issuing a batch arms a ``coupon_expiry`` timer due at
``valid_until + 1``, the first millisecond the batch is refused; its step
marks the batch expired (``expired_ms``) and emits ``coupon.batch_expired``
with the final counters. A batch valid until 2^64 - 1 never expires and arms
no timer.
"""
from __future__ import annotations

from typing import Any, Mapping

from chain.constants import MAX_UINT64, NATIVE_ASSET
from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.accounts import require_registered, require_role
from commerce.body import (address_field, amount_field, bps_field, hash_field, id_field, identifier_field, is_decimal,
                           list_field, text_field)
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.funds import move
from commerce.keys import batch_key, coupon_key, timer_key
from commerce.overlay import Overlay
from commerce.records import get_param, get_record, put_record

DISCOUNT_KINDS = ("amount", "bps")


def get_batch(state: KeyValueReader, batch_id: str) -> dict[str, Any] | None:
    return get_record(state, batch_key(batch_id))


def get_coupon(state: KeyValueReader, batch_id: str, n: int) -> dict[str, Any] | None:
    return get_record(state, coupon_key(batch_id, n))


def parse_coupon_name(name: Any) -> tuple[str, int]:
    """``batch/n`` into its parts; body.invalid when malformed."""
    parts = name.split("/") if isinstance(name, str) else []
    if len(parts) != 2 or not is_decimal(parts[1]) or parts[1].startswith("0") or len(parts[1]) > 19:
        raise TxRejected("body.invalid", "field coupon must be \"batch/n\"; fix the body")
    return id_field({"coupon": parts[0]}, "coupon"), int(parts[1])


def compute_discount(discount: dict[str, Any], amount: int) -> int:
    value = discount["value"] if discount["kind"] == "amount" else amount * discount["value"] // 10_000
    return min(value, amount)


def discount_field(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    discount = body[name]
    if not isinstance(discount, dict) or set(discount) != {"kind", "value"} or discount["kind"] not in DISCOUNT_KINDS:
        raise TxRejected("body.invalid", f"field {name} must be {{kind: amount or bps, value}}; fix the body")
    value = bps_field(discount, "value") if discount["kind"] == "bps" else amount_field(discount, "value")
    return {"kind": discount["kind"], "value": value}


def _issue_fields(state: KeyValueReader, body: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "brand": text_field(body, "brand"), "content": text_field(body, "content"),
        "discount": discount_field(body, "discount"), "price": amount_field(body, "price", minimum=0),
        "total": amount_field(body, "total"), "valid_from": amount_field(body, "valid_from", minimum=0),
        "valid_until": amount_field(body, "valid_until", minimum=0),
        "serial_prefix": identifier_field(body, "serial_prefix"),
        "offline_quota": amount_field(body, "offline_quota", minimum=0) if "offline_quota" in body else 0,
    }
    if "skus" in body:
        fields["skus"] = [sku_entry(sku) for sku in list_field(body, "skus", get_param(state, "list_length_max"))]
    return fields


def sku_entry(value: Any) -> str:
    """One entry of coupon.issue's ``skus``."""
    return identifier_field({"sku": value}, "sku")


def process_coupon_issue(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_role(state, ctx.sender, "merchant")
    fields = _issue_fields(state, body)
    # Verify the validity window and the offline quota make sense
    if fields["valid_until"] <= fields["valid_from"] or fields["valid_until"] <= ctx.block_time_ms:
        raise TxRejected("coupon.bad_window", "valid_until must be after valid_from and in the future; fix the dates")
    if fields["offline_quota"] > fields["total"]:
        raise TxRejected("coupon.bad_quota", "offline_quota cannot exceed total; lower it")
    batch = {"merchant": ctx.sender, **fields, "sold_online": 0, "sold_offline": 0, "redeemed": 0}
    put_record(state, batch_key(ctx.tx_id), batch)
    if fields["valid_until"] < MAX_UINT64:
        state.put(timer_key(fields["valid_until"] + 1, "coupon_expiry", ctx.tx_id), b"")
    ctx.emit("coupon.issued", batch=ctx.tx_id, merchant=ctx.sender, total=fields["total"])


def _require_batch(state: KeyValueReader, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    batch_id = id_field(body, "batch")
    batch = get_batch(state, batch_id)
    # Verify the batch exists
    if batch is None:
        raise TxRejected("coupon.unknown_batch", f"no coupon batch {batch_id}; check the id")
    return batch_id, batch


def is_expired(batch: dict[str, Any], now_ms: int) -> bool:
    """Past ``valid_until``, whether or not the expiry step has run yet (the per-block cap may delay it)."""
    return "expired_ms" in batch or now_ms > batch["valid_until"]


def _require_on_sale(batch: dict[str, Any], now_ms: int) -> None:
    # Verify the batch has not expired
    if now_ms > batch["valid_until"]:
        raise TxRejected("coupon.expired", "the batch has expired; it can no longer be sold or used")


def _sell(state: Overlay, ctx: Context, batch_id: str, batch: dict[str, Any], buyer: str, channel: str, proof: dict) -> None:
    batch[f"sold_{channel}"] += 1
    n = batch["sold_online"] + batch["sold_offline"]
    put_record(state, batch_key(batch_id), batch)
    history = [{"event": "sold", "tx": ctx.tx_id, "time_ms": ctx.block_time_ms, "to": buyer, "channel": channel, **proof}]
    put_record(state, coupon_key(batch_id, n), {"holder": buyer, "redeemed": False, "history": history})
    ctx.emit("coupon.sold", batch=batch_id, coupon=f"{batch_id}/{n}", to=buyer, channel=channel)


def process_coupon_buy(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    require_role(state, ctx.sender, "consumer")
    batch_id, batch = _require_batch(state, tx.body)
    _require_on_sale(batch, ctx.block_time_ms)
    # Verify the online channel has coupons left
    if batch["sold_online"] >= batch["total"] - batch["offline_quota"] or batch["sold_online"] + batch["sold_offline"] >= batch["total"]:
        raise TxRejected("coupon.sold_out", "no coupon of this batch is left for online sale")
    if batch["price"]:
        move(state, ctx.sender, batch["merchant"], NATIVE_ASSET, batch["price"])
    _sell(state, ctx, batch_id, batch, ctx.sender, "online", {})


def process_coupon_record_sale(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    batch_id, batch = _require_batch(state, body)
    buyer, evidence = address_field(body, "buyer"), hash_field(body, "evidence_hash")
    # Verify the sender issued the batch
    if batch["merchant"] != ctx.sender:
        raise TxRejected("auth.forbidden", "only the merchant who issued the batch records its offline sales")
    _require_on_sale(batch, ctx.block_time_ms)
    # Verify the batch has coupons left
    if batch["sold_online"] + batch["sold_offline"] >= batch["total"]:
        raise TxRejected("coupon.sold_out", "every coupon of this batch is sold")
    _sell(state, ctx, batch_id, batch, buyer, "offline", {"evidence_hash": evidence})


def require_usable_coupon(state: KeyValueReader, name: Any, holder: str, now_ms: int) -> tuple[str, int, dict, dict]:
    batch_id, n = parse_coupon_name(name)
    batch, coupon = get_batch(state, batch_id), get_coupon(state, batch_id, n)
    # Verify the coupon exists, belongs to the holder, is unused and valid now
    if batch is None or coupon is None:
        raise TxRejected("coupon.unknown", f"no coupon {name}; check the name")
    if coupon["holder"] != holder:
        raise TxRejected("coupon.not_holder", "you do not hold this coupon")
    if coupon["redeemed"]:
        raise TxRejected("coupon.redeemed", "the coupon was already redeemed")
    _require_on_sale(batch, now_ms)
    if now_ms < batch["valid_from"]:
        raise TxRejected("coupon.not_yet_valid", "the coupon is not valid yet; use it from valid_from")
    return batch_id, n, batch, coupon


def redeem(state: Overlay, ctx: Context, name: str, order_id: str | None) -> tuple[dict, int]:
    """Mark a coupon redeemed by the sender; returns its batch and n."""
    batch_id, n, batch, coupon = require_usable_coupon(state, name, ctx.sender, ctx.block_time_ms)
    entry = {"event": "redeemed", "tx": ctx.tx_id, "time_ms": ctx.block_time_ms}
    coupon = {**coupon, "redeemed": True, "history": coupon["history"] + [entry if order_id is None else {**entry, "order": order_id}]}
    put_record(state, coupon_key(batch_id, n), coupon)
    batch["redeemed"] += 1
    put_record(state, batch_key(batch_id), batch)
    ctx.emit("coupon.redeemed", batch=batch_id, coupon=name, holder=ctx.sender)
    return batch, n


def process_coupon_transfer(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    target = address_field(body, "to")
    batch_id, n, _, coupon = require_usable_coupon(state, body["coupon"], ctx.sender, ctx.block_time_ms)
    require_registered(state, target)
    entry = {"event": "transferred", "tx": ctx.tx_id, "time_ms": ctx.block_time_ms, "from": ctx.sender, "to": target}
    put_record(state, coupon_key(batch_id, n), {**coupon, "holder": target, "history": coupon["history"] + [entry]})
    ctx.emit("coupon.transferred", batch=batch_id, coupon=body["coupon"], to=target)


def process_coupon_redeem(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    redeem(state, ctx, tx.body["coupon"], None)


def process_coupon_batch_expiry(state: Overlay, ctx: Context, batch_id: str) -> None:
    """The time-driven step due at ``valid_until + 1``: mark the batch expired; counters stay as they are."""
    batch = get_batch(state, batch_id)
    put_record(state, batch_key(batch_id), {**batch, "expired_ms": ctx.block_time_ms})
    ctx.emit("coupon.batch_expired", batch=batch_id, merchant=batch["merchant"], sold_online=batch["sold_online"],
             sold_offline=batch["sold_offline"], redeemed=batch["redeemed"])
