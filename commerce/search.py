"""Terms the explorer's search finds objects by that no object is keyed
by: a coupon by its serial (its batch's serial prefix, a dash, its number)
and an order by its tracking number. Neither is unique across merchants
(two merchants may both print ``TEA-4``), so each term names a list.

Pure: the node indexes the terms of each committed transaction
(``search_terms``) beside its blocks; they point at objects whose state,
read and proven as usual, is the answer.
"""
from __future__ import annotations

from chain.results import TxResult
from chain.transaction import SignedTransaction

SERIAL_PREFIX = "serial_prefix"   # a coupon batch's serial prefix -> the batch id
TRACKING = "tracking"             # a tracking number -> the order id


def search_terms(tx: SignedTransaction, result: TxResult) -> list[tuple[str, str, str]]:
    """(kind of term, term, id of what it finds) for a committed transaction."""
    if not result.ok:
        return []
    if tx.kind == "coupon.issue":
        return [(SERIAL_PREFIX, tx.body["serial_prefix"], tx.id)]
    if tx.kind == "order.ship":
        return [(TRACKING, tx.body["tracking"], tx.body["order"])]
    return []


def split_serial(serial: str) -> tuple[str, int] | None:
    """A coupon serial as (serial prefix, number): ``TEA-4`` -> (``TEA``, 4);
    None when it is not one (prefixes may hold dashes: the number follows the last)."""
    prefix, dash, number = serial.rpartition("-")
    if not dash or not prefix or not number.isdigit() or len(number) > 20:
        return None
    return prefix, int(number)
