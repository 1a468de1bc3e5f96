"""Logistics traces: trace.record and trace.correct.

A subject is an order id (its shipment) or a product lot
``merchant/sku/lot``. Stages only move forward (a stage may repeat). A
``delivery`` event on a shipped order delivers it. Corrections are appended
and mark the original; nothing is ever overwritten.
"""
from __future__ import annotations

from typing import Any, Mapping

from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.body import IDENTIFIER_PATTERN, amount_field, hash_field, is_hex_id, text_field
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.keys import trace_event_key, trace_key
from commerce.orders import deadline_passed, get_order, process_order_delivered
from commerce.overlay import Overlay
from commerce.products import get_product
from commerce.records import get_record, put_record

STAGES = ("procurement", "production", "warehousing", "transit", "delivery")
SUBJECT_BYTES_MAX = 200


def _lot_parts(subject: str) -> list[str] | None:
    parts = subject.split("/")
    if len(parts) == 3 and all(IDENTIFIER_PATTERN.fullmatch(part) for part in parts[1:]):
        return parts
    return None


def is_subject_text(value: Any) -> bool:
    """True for text short enough to name a subject (whether or not one exists)."""
    return isinstance(value, str) and len(value.encode()) <= SUBJECT_BYTES_MAX


def subject_field(body: Mapping[str, Any], name: str) -> str:
    value = body[name]
    if not is_subject_text(value):
        raise TxRejected("body.invalid", f"field {name} must be an order id or merchant/sku/lot; fix the body")
    return value


def get_trace(state: KeyValueReader, subject: str) -> dict[str, Any] | None:
    return get_record(state, trace_key(subject))


def _require_writer(state: KeyValueReader, subject: str, sender: str) -> None:
    order = get_order(state, subject) if is_hex_id(subject) else None
    if order is not None:
        # Verify the sender is the order's merchant or its carrier
        if sender not in (order["merchant"], order.get("carrier")):
            raise TxRejected("auth.forbidden", "only the order's merchant or carrier records its shipment")
        return
    parts = _lot_parts(subject)
    # Verify the subject is a lot of a product the sender lists
    if parts is None or parts[0] != sender or get_product(state, parts[0], parts[1]) is None:
        raise TxRejected("trace.bad_subject", "the subject is neither an order nor a lot of a product you list")


def stage_field(body: Mapping[str, Any], name: str) -> str:
    """A stage of the trace; ``trace.bad_stage`` otherwise."""
    stage = body[name]
    if stage not in STAGES:
        raise TxRejected("trace.bad_stage", f"stage must be one of {', '.join(STAGES)}")
    return stage


def process_trace_record(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    subject = subject_field(body, "subject")
    _require_writer(state, subject, ctx.sender)
    location, handler, data_hash = text_field(body, "location"), text_field(body, "handler"), hash_field(body, "data_hash")
    stage = stage_field(body, "stage")
    # Verify the stage is not behind the subject's current stage
    trace = get_trace(state, subject) or {"stage": STAGES[0], "count": 0}
    if STAGES.index(stage) < STAGES.index(trace["stage"]):
        raise TxRejected("trace.stage_backwards", f"the subject is at {trace['stage']}; stages only move forward")
    event = {"stage": stage, "location": location, "handler": handler, "data_hash": data_hash,
             "author": ctx.sender, "tx": ctx.tx_id, "time_ms": ctx.block_time_ms}
    _append(state, subject, {**trace, "stage": stage}, event)
    ctx.emit("trace.recorded", subject=subject, stage=stage, index=trace["count"])
    order = get_order(state, subject) if is_hex_id(subject) else None
    delivers = order is not None and order["state"] == "shipped" and not deadline_passed(state, order, ctx.block_time_ms)
    if stage == "delivery" and delivers:
        process_order_delivered(state, ctx, subject, order)


def _append(state: Overlay, subject: str, trace: dict[str, Any], event: dict[str, Any]) -> None:
    put_record(state, trace_event_key(subject, trace["count"]), event)
    put_record(state, trace_key(subject), {**trace, "count": trace["count"] + 1})


def process_trace_correct(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    subject, index = body["subject"], amount_field(body, "event", minimum=0)
    reason, data_hash = text_field(body, "reason"), hash_field(body, "data_hash")
    trace = get_trace(state, subject) if is_subject_text(subject) else None
    original = get_record(state, trace_event_key(subject, index)) if trace is not None else None
    # Verify the event exists, is an original, is not corrected yet and was written by the sender
    if original is None or "correction_of" in original:
        raise TxRejected("trace.unknown_event", "no such original event on this subject; check subject and index")
    if original["author"] != ctx.sender:
        raise TxRejected("auth.forbidden", "only the author of an event may correct it")
    if "corrected_by" in original:
        raise TxRejected("trace.corrected_already", "the event is already corrected; correct the correction's subject anew")
    correction = {"correction_of": index, "reason": reason, "data_hash": data_hash, "author": ctx.sender,
                  "tx": ctx.tx_id, "time_ms": ctx.block_time_ms}
    put_record(state, trace_event_key(subject, index), {**original, "corrected_by": trace["count"]})
    _append(state, subject, trace, correction)
    ctx.emit("trace.corrected", subject=subject, event=index, index=trace["count"])
