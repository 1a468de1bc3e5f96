"""Orders with escrow, along the edges of the order table (docs/commerce.md section 5).

``ORDER_EDGES`` is the whole state machine: (state, step) -> next state. A
step not in the table is refused with ``order.illegal_step``. Every state
that holds escrow has a time-driven exit (ship timeout, auto-confirm,
dispute timeout), so no escrow waits forever.
"""
from __future__ import annotations

from typing import Any, Mapping

from chain.constants import MAX_UINT64, NATIVE_ASSET
from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.accounts import get_account, require_admin, require_role
from commerce.body import (address_field, amount_field, bps_field, hash_field, id_field, identifier_field, list_field,
                           text_field)
from commerce.context import Context
from commerce.coupons import compute_discount, redeem
from commerce.errors import TxRejected
from commerce.funds import credit, debit
from commerce.keys import order_key, parse_timer_key, timer_key
from commerce.overlay import Overlay
from commerce.products import get_product, put_product
from commerce.records import get_meta, get_param, get_record, put_record

BPS = 10_000
ORDER_EDGES: dict[tuple[str, str], str] = {
    ("created", "cancel"): "cancelled",
    ("created", "ship"): "shipped",
    ("shipped", "deliver"): "delivered",
    ("shipped", "dispute"): "disputed",
    ("shipped", "refund"): "refunded",
    ("shipped", "ship_timeout"): "refunded",
    ("delivered", "confirm"): "settled",
    ("delivered", "auto_confirm"): "settled",
    ("delivered", "dispute"): "disputed",
    ("delivered", "refund"): "refunded",
    ("delivered", "partial_refund"): "settled",
    ("disputed", "resolve"): "resolved",
    ("disputed", "dispute_timeout"): "refunded",
}
ORDER_STATES = ("created", "shipped", "delivered", "disputed", "cancelled", "refunded", "settled", "resolved")
# The timer each escrow-holding state arms: (step, parameter giving its delay).
STATE_TIMERS = {"shipped": ("ship_timeout", "ship_timeout_ms"), "delivered": ("auto_confirm", "auto_confirm_ms"),
                "disputed": ("dispute_timeout", "dispute_timeout_ms")}


def get_order(state: KeyValueReader, order_id: str) -> dict[str, Any] | None:
    return get_record(state, order_key(order_id))


def require_order(state: KeyValueReader, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    order_id = id_field(body, "order")
    order = get_order(state, order_id)
    # Verify the order exists
    if order is None:
        raise TxRejected("order.unknown", f"no order {order_id}; check the id")
    return order_id, order


def compute_next_state(current: str, step: str) -> str:
    # Verify the step is an edge of the order table
    if (current, step) not in ORDER_EDGES:
        raise TxRejected("order.illegal_step", f"an order that is {current} cannot take {step}; see the order table")
    return ORDER_EDGES[(current, step)]


def deadline_passed(state: KeyValueReader, order: dict[str, Any], now_ms: int) -> bool:
    """The order's timer has fallen due and its step waits to run (the
    per-block cap on timed steps may delay it). A step that ran and failed
    took its timer with it: the order is the parties' again."""
    return ("timer" in order and parse_timer_key(order["timer"])[0] <= now_ms
            and state.get(order["timer"]) is not None)


def process_step(state: Overlay, ctx: Context, order_id: str, order: dict[str, Any], step: str) -> dict[str, Any]:
    """Move the order along one edge, re-arming its timer; the caller moves funds.
    Once the timer is due only its own step may move the order, so a
    transaction meets the same rules whether or not that step has run."""
    # Verify a transaction's step comes before the order's deadline
    if not ctx.timed and deadline_passed(state, order, ctx.block_time_ms):
        due_ms, timer_step, _ = parse_timer_key(order["timer"])
        raise TxRejected("order.illegal_step",
                         f"the order's {timer_step} fell due at {due_ms} ms; it takes no other step")
    target = compute_next_state(order["state"], step)
    if "timer" in order:
        state.delete(order.pop("timer"))
    order = {**order, "state": target, "updated_ms": ctx.block_time_ms,
             "history": order.get("history", []) + [history_entry(ctx, step, target)]}
    if target in STATE_TIMERS:
        timer_step, parameter = STATE_TIMERS[target]
        key = timer_key(ctx.block_time_ms + get_param(state, parameter), timer_step, order_id)
        state.put(key, b"")
        order["timer"] = key
    put_record(state, order_key(order_id), order)
    ctx.emit(f"order.{target}", order=order_id, step=step)
    return order


def history_entry(ctx: Context, step: str, target: str) -> dict[str, Any]:
    """One line of an order's history: the step, the state it led to, when,
    and the transaction that took it (none for a timer's step)."""
    entry = {"step": step, "state": target, "time_ms": ctx.block_time_ms}
    if not ctx.timed:
        entry["tx"] = ctx.tx_id
    return entry


def _release(state: Overlay, order_id: str, order: dict[str, Any], buyer_amount: int, **extra: Any) -> None:
    """Split the escrow: ``buyer_amount`` back to the buyer, the rest settled
    to the merchant; the order keeps ``payouts``, where the escrow went, and
    ``extra`` fields of the step."""
    payouts = []
    if buyer_amount:
        credit(state, order["buyer"], NATIVE_ASSET, buyer_amount)
        payouts.append({"role": "buyer", "to": order["buyer"], "amount": buyer_amount})
    merchant_amount = order["escrow"] - buyer_amount
    if merchant_amount:
        payouts += settle(state, order, merchant_amount)
    put_record(state, order_key(order_id), {**order, "payouts": payouts, **extra})


def compute_fee_shares(amount: int, params: dict[str, Any], validator_count: int, has_agent: bool) -> dict[str, int]:
    fee = amount * params["fee_bps"] // BPS
    agent = fee * params["agent_bps"] // BPS if has_agent else 0
    validator_each = fee * params["validator_bps"] // BPS // validator_count
    return {"fee": fee, "agent": agent, "validator_each": validator_each,
            "treasury": fee - agent - validator_each * validator_count, "merchant": amount - fee}


def settle(state: Overlay, order: dict[str, Any], amount: int) -> list[dict[str, Any]]:
    """Pay ``amount`` to the merchant less the fee, split to agent, validators
    and treasury; the payouts made, each with its role."""
    validators = get_meta(state, "validators")
    referrer = (get_account(state, order["buyer"]) or {}).get("referrer")
    params = {name: get_param(state, name) for name in ("fee_bps", "agent_bps", "validator_bps")}
    shares = compute_fee_shares(amount, params, len(validators), referrer is not None)
    payouts = [("merchant", order["merchant"], shares["merchant"]), ("treasury", get_meta(state, "treasury"), shares["treasury"])]
    payouts += [("validator", validator, shares["validator_each"]) for validator in validators]
    if referrer is not None:
        payouts.append(("agent", referrer, shares["agent"]))
    made = []
    for role, address, share in payouts:
        if share:
            credit(state, address, NATIVE_ASSET, share)
            made.append({"role": role, "to": address, "amount": share})
    return made


def order_item(item: Any) -> tuple[str, int]:
    """One entry of order.create's ``items``: its sku and quantity."""
    if not isinstance(item, dict) or set(item) != {"sku", "qty"}:
        raise TxRejected("body.invalid", "each item is {sku, qty}; fix the body")
    return identifier_field(item, "sku"), amount_field(item, "qty")


def _reserve_items(state: Overlay, merchant: str, items: list[Any]) -> tuple[int, list[dict[str, Any]]]:
    total, reserved = 0, []
    for item in items:
        sku, qty = order_item(item)
        product = get_product(state, merchant, sku)
        # Verify the product exists and has the stock
        if product is None:
            raise TxRejected("product.unknown", f"the merchant lists no {sku!r}; check the sku")
        if product["stock"] < qty:
            raise TxRejected("product.out_of_stock", f"only {product['stock']} of {sku!r} left; order fewer")
        put_product(state, {**product, "stock": product["stock"] - qty})
        total += product["price"] * qty
        # Verify the total is an amount
        if total > MAX_UINT64:
            raise TxRejected("order.total_overflow", "the order's total would exceed 2^64 - 1; order fewer")
        reserved.append({"sku": sku, "qty": qty, "price": product["price"]})
    return total, reserved


def process_order_create(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_role(state, ctx.sender, "consumer")
    merchant = address_field(body, "merchant")
    items = list_field(body, "items", get_param(state, "list_length_max"))
    shipping_hash = hash_field(body, "shipping_hash")
    total, reserved = _reserve_items(state, merchant, items)
    discount = 0
    if "coupon" in body:
        batch, _ = redeem(state, ctx, body["coupon"], ctx.tx_id)
        # Verify the coupon is the merchant's and covers an ordered sku
        if batch["merchant"] != merchant:
            raise TxRejected("coupon.foreign", "the coupon belongs to another merchant; use one of this merchant's")
        if "skus" in batch and not any(item["sku"] in batch["skus"] for item in reserved):
            raise TxRejected("coupon.not_applicable", "the coupon covers none of the ordered skus")
        discount = compute_discount(batch["discount"], total)
    escrow = total - discount
    debit(state, ctx.sender, NATIVE_ASSET, escrow)
    order = {"buyer": ctx.sender, "merchant": merchant, "items": reserved, "total": total, "discount": discount,
             "escrow": escrow, "shipping_hash": shipping_hash, "state": "created", "created_ms": ctx.block_time_ms,
             "updated_ms": ctx.block_time_ms, "reviewed": False, "history": [history_entry(ctx, "create", "created")]}
    if "coupon" in body:
        order["coupon"] = body["coupon"]
    put_record(state, order_key(ctx.tx_id), order)
    ctx.emit("order.created", order=ctx.tx_id, buyer=ctx.sender, merchant=merchant, escrow=escrow)


def _restock(state: Overlay, order: dict[str, Any]) -> None:
    """Give the items back; stock stops at 2^64 - 1 (the merchant may have set
    it there meanwhile), since a refund or a timeout must never fail on it."""
    for item in order["items"]:
        product = get_product(state, order["merchant"], item["sku"])
        put_product(state, {**product, "stock": min(product["stock"] + item["qty"], MAX_UINT64)})


def _require_party(order: dict[str, Any], sender: str, *roles: str) -> None:
    # Verify the sender is one of the order's parties allowed this step
    if not any(order[role] == sender for role in roles):
        raise TxRejected("auth.forbidden", f"only the order's {' or '.join(roles)} may do this")


def process_order_cancel(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    order_id, order = require_order(state, tx.body)
    _require_party(order, ctx.sender, "buyer", "merchant")
    order = process_step(state, ctx, order_id, order, "cancel")
    _restock(state, order)
    _release(state, order_id, order, order["escrow"])


def process_order_ship(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    order_id, order = require_order(state, body)
    _require_party(order, ctx.sender, "merchant")
    carrier, tracking = address_field(body, "carrier"), text_field(body, "tracking")
    account = get_account(state, carrier)
    # Verify the carrier is approved
    if account is None or "carrier" not in account["roles"] or account["suspended"]:
        raise TxRejected("order.bad_carrier", "the carrier is not an approved, active carrier; choose another")
    order = process_step(state, ctx, order_id, order, "ship")
    put_record(state, order_key(order_id), {**order, "carrier": carrier, "tracking": tracking})


def process_order_confirm(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    order_id, order = require_order(state, tx.body)
    _require_party(order, ctx.sender, "buyer")
    order = process_step(state, ctx, order_id, order, "confirm")
    _release(state, order_id, order, 0)


def process_order_refund(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    order_id, order = require_order(state, body)
    _require_party(order, ctx.sender, "merchant")
    text_field(body, "reason")
    amount = amount_field(body, "amount") if "amount" in body else order["escrow"]
    # Verify a partial amount is within the escrow
    if amount > order["escrow"]:
        raise TxRejected("order.bad_amount", f"the refund exceeds the escrow of {order['escrow']}; refund less")
    step = "refund" if amount == order["escrow"] else "partial_refund"
    order = process_step(state, ctx, order_id, order, step)
    if step == "refund":
        _restock(state, order)
    _release(state, order_id, order, amount, refunded=amount)


def process_order_dispute(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    order_id, order = require_order(state, body)
    _require_party(order, ctx.sender, "buyer")
    reason_hash = hash_field(body, "reason_hash")
    order = process_step(state, ctx, order_id, order, "dispute")
    put_record(state, order_key(order_id), {**order, "dispute_hash": reason_hash})


def process_order_resolve(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_admin(state, ctx.sender)
    order_id, order = require_order(state, body)
    share_bps = bps_field(body, "buyer_share_bps")
    order = process_step(state, ctx, order_id, order, "resolve")
    buyer_amount = order["escrow"] * share_bps // BPS
    _release(state, order_id, order, buyer_amount, refunded=buyer_amount, buyer_share_bps=share_bps)


def process_order_timeout(state: Overlay, ctx: Context, order_id: str, step: str) -> None:
    """A time-driven exit: ship_timeout and dispute_timeout refund, auto_confirm settles."""
    order = process_step(state, ctx, order_id, get_order(state, order_id), step)
    if step == "auto_confirm":
        _release(state, order_id, order, 0)
        return
    if step == "ship_timeout":
        _restock(state, order)
    _release(state, order_id, order, order["escrow"])


def process_order_delivered(state: Overlay, ctx: Context, order_id: str, order: dict[str, Any]) -> None:
    """The carrier's or merchant's trace ``delivery`` event on a shipped order."""
    process_step(state, ctx, order_id, order, "deliver")


def rating_field(body: Mapping[str, Any], name: str) -> int:
    """A review's rating: 1 to 5."""
    value = body[name]
    if type(value) is not int or not 1 <= value <= 5:
        raise TxRejected("body.invalid", f"field {name} must be an integer from 1 to 5; fix the body")
    return value


def process_review_post(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    order_id, order = require_order(state, body)
    _require_party(order, ctx.sender, "buyer")
    text_hash = hash_field(body, "text_hash")
    rating = rating_field(body, "rating")
    # Verify the order is settled (or its auto_confirm is due) and not reviewed yet
    auto_confirmed = order["state"] == "delivered" and deadline_passed(state, order, ctx.block_time_ms)
    if order["state"] not in ("settled", "resolved") and not auto_confirmed:
        raise TxRejected("review.not_settled", "only a settled order can be reviewed; wait for settlement")
    if order["reviewed"]:
        raise TxRejected("review.exists", "this order was already reviewed; one review per order")
    review = {"rating": rating, "text_hash": text_hash, "tx": ctx.tx_id, "time_ms": ctx.block_time_ms}
    put_record(state, order_key(order_id), {**order, "reviewed": True, "review": review})
    ctx.emit("review.posted", order=order_id, merchant=order["merchant"], rating=rating)
