"""Terms the explorer's search finds objects by that no object is keyed
by: a coupon by its serial (its batch's serial prefix, a dash, its number)
and an order by its tracking number. Neither is unique across merchants
(two merchants may both print ``TEA-4``), so each term names a list. And
the objects each block created, newest first, for the explorer's home.

Pure: the node indexes the terms of each committed transaction
(``search_terms``) beside its blocks; they point at objects whose state,
read and proven as usual, is the answer.
"""
from __future__ import annotations

from chain.results import TxResult
from chain.transaction import SignedTransaction
from commerce.body import is_decimal

SERIAL_PREFIX = "serial_prefix"   # a coupon batch's serial prefix -> the batch id
TRACKING = "tracking"             # a tracking number -> the order id
CREATED = "created"               # an object kind -> newest_first(height, index)/id of each object created

# The transactions that create an object, and the object's kind (its explorer page).
CREATES = {"order.create": "order", "coupon.issue": "coupon-batch", "contract.create": "contract"}
_LAST = 2**64 - 1


def search_terms(tx: SignedTransaction, result: TxResult, height: int, index: int) -> list[tuple[str, str, str]]:
    """(kind of term, term, what it finds) for the transaction at ``index``
    of the committed block at ``height``."""
    if not result.ok:
        return []
    terms = []
    if tx.kind == "coupon.issue":
        terms.append((SERIAL_PREFIX, tx.body["serial_prefix"], tx.id))
    if tx.kind == "order.ship":
        terms.append((TRACKING, tx.body["tracking"], tx.body["order"]))
    if tx.kind in CREATES:
        terms.append((CREATED, CREATES[tx.kind], f"{newest_first(height, index)}/{tx.id}"))
    return terms


def newest_first(height: int, index: int) -> str:
    """A text that sorts the later (height, index) first."""
    return f"{_LAST - height:016x}{_LAST - index:016x}"


def created_at(found: str) -> tuple[int, str]:
    """The height and the id of a CREATED entry."""
    order, _, object_id = found.partition("/")
    return _LAST - int(order[:16], 16), object_id


def split_serial(serial: str) -> tuple[str, int] | None:
    """A coupon serial as (serial prefix, number): ``TEA-4`` -> (``TEA``, 4);
    None when it is not one (prefixes may hold dashes: the number follows the last)."""
    prefix, dash, number = serial.rpartition("-")
    if not dash or not prefix or not is_decimal(number) or len(number) > 20:
        return None
    return prefix, int(number)
