"""The block executor: time-driven steps, then each transaction, on an overlay.

Theory of operation. A block runs on an overlay of the committed state. At
its start, due timers (keyed by due time, so iterated in time then key
order) run, at most ``timed_steps_per_block_max`` of them; the rest wait for
the next block. Then each transaction: its nonce must be the sender's last
used nonce + 1 or the whole block is invalid (``BlockInvalid``); the nonce is
consumed, then the body's field names are checked against the kind's shape
(commerce/kinds.py) and the handler runs on a child overlay merged only on
success.
A failure of the handler is an ``ok=false`` result with a stable code.
The write-set, chained into the state root, is everything the block wrote.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from chain.kv import KeyValueReader
from chain.results import TxResult, results_root
from chain.transaction import SignedTransaction
from commerce.accounts import is_suspended
from commerce.context import TIMED_STEP_TX_ID, Context
from commerce.dispatch import HANDLERS, TIMED_STEPS
from commerce.errors import BlockInvalid, TxRejected
from commerce.keys import TIMER, meta_key, nonce_key, parse_timer_key
from commerce.kinds import shape_of
from commerce.overlay import Overlay
from commerce.records import get_param, get_record, put_record


@dataclass(frozen=True, slots=True)
class BlockExecution:
    results: tuple[TxResult, ...]
    step_events: tuple[dict[str, Any], ...]
    write_set: dict[bytes, bytes | None]
    results_root: bytes


def get_nonce(state: KeyValueReader, sender: bytes) -> int:
    """The sender's last used nonce (0 before its first transaction)."""
    value = get_record(state, nonce_key(sender))
    return 0 if value is None else value


def check_block_envelope(txs: Sequence[SignedTransaction], params: dict[str, Any]) -> None:
    """Raise BlockInvalid when a block carries too many transactions or bytes."""
    if len(txs) > params["block_txs_max"]:
        raise BlockInvalid("block.too_many_txs", f"{len(txs)} transactions exceed the cap of {params['block_txs_max']}")
    size = sum(len(tx.raw) for tx in txs)
    if size > params["block_bytes_max"]:
        raise BlockInvalid("block.too_large", f"{size} transaction bytes exceed the cap of {params['block_bytes_max']}")
    oversized = [tx.id for tx in txs if len(tx.raw) > params["tx_bytes_max"]]
    if oversized:
        raise BlockInvalid("block.tx_too_large", f"transaction {oversized[0]} exceeds tx_bytes_max")


def process_timed_steps(state: Overlay, block_time_ms: int) -> list[dict[str, Any]]:
    cap = get_param(state, "timed_steps_per_block_max")
    due = []
    for key, _ in state.iterate_prefix(TIMER):
        if len(due) >= cap or parse_timer_key(key)[0] > block_time_ms:
            break
        due.append(key)
    events: list[dict[str, Any]] = []
    for key in due:
        events.extend(_run_timed_step(state, key, block_time_ms))
    return events


def _run_timed_step(state: Overlay, key: bytes, block_time_ms: int) -> list[dict[str, Any]]:
    """Run one due step on a child overlay. A step that breaks a rule (a
    balance that would overflow, say) changes nothing but its timer and says
    so in a ``step.failed`` event: a block is never made invalid by time."""
    _, kind, record_id = parse_timer_key(key)
    ctx = Context(block_time_ms, TIMED_STEP_TX_ID, "")
    child = state.child()
    state.delete(key)
    try:
        TIMED_STEPS[kind](child, ctx, record_id)
    except TxRejected as error:
        return [{"kind": "step.failed", "step": kind, "id": record_id, "code": error.code, "message": error.message}]
    child.merge_into(state)
    return list(ctx.events)


def process_transaction(state: Overlay, tx: SignedTransaction, block_time_ms: int) -> TxResult:
    # Verify the nonce follows the sender's last used one (else the block is invalid)
    expected = get_nonce(state, tx.sender) + 1
    if tx.nonce != expected:
        raise BlockInvalid("block.bad_nonce", f"transaction {tx.id} has nonce {tx.nonce}, the sender's next is {expected}")
    put_record(state, nonce_key(tx.sender), tx.nonce)
    ctx = Context(block_time_ms, tx.id, tx.sender_address)
    child = state.child()
    try:
        _dispatch(child, tx, ctx)
    except TxRejected as error:
        return TxResult(False, error.code, error.message)
    child.merge_into(state)
    return TxResult(True, "", "", tuple(ctx.events))


def _dispatch(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    """The field values are left to the handler, which checks them in its own
    order among its state checks: that order decides the code in the block."""
    # Verify the kind is known, the sender is not suspended and the body names the kind's fields
    shape = shape_of(tx.kind)
    if is_suspended(state, ctx.sender):
        raise TxRejected("auth.suspended", "your account is suspended; ask an admin to reinstate it")
    shape.check_names(tx.body)
    HANDLERS[tx.kind](state, tx, ctx)


def execute_block(state: KeyValueReader, block_time_ms: int, txs: Sequence[SignedTransaction]) -> BlockExecution:
    """Execute a block on an overlay of ``state``; raises BlockInvalid. The
    state root over the write-set is the caller's (chain/state_tree.py)."""
    overlay = Overlay(state, cache_reads=True)
    check_block_envelope(txs, _envelope_params(overlay))
    step_events = process_timed_steps(overlay, block_time_ms)
    results = tuple(process_transaction(overlay, tx, block_time_ms) for tx in txs)
    put_record(overlay, meta_key("time_ms"), block_time_ms)
    write_set = dict(overlay.writes)
    return BlockExecution(results, tuple(step_events), write_set, results_root(results))


def _envelope_params(state: KeyValueReader) -> dict[str, Any]:
    return {name: get_param(state, name) for name in ("block_txs_max", "block_bytes_max", "tx_bytes_max")}
