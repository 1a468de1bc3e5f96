"""The state key layout.

Each record kind has a one-byte prefix; the parts after it are fixed-length
(32-byte account keys and ids, 8-byte big-endian counters and times) or
length-prefixed (one length byte, then UTF-8), so no two keys collide.
"""
from __future__ import annotations

from chain.constants import MAX_UINT64

ACCOUNT = b"a"
BALANCE = b"b"
HOLDINGS = b"h"
BATCH = b"c"
COUPON = b"C"
CONTRACT = b"k"
META = b"m"
NONCE = b"n"
ORDER = b"o"
PARAM = b"p"
PRODUCT = b"P"
ASSET = b"s"
TIMER = b"t"
TRACE = b"T"
TRACE_EVENT = b"U"


def _text(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise ValueError("a key part is at most 255 bytes")
    return bytes([len(raw)]) + raw


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def account_key(address: str) -> bytes:
    return ACCOUNT + bytes.fromhex(address)


def nonce_key(sender: bytes) -> bytes:
    return NONCE + sender


def balance_key(address: str, asset: str) -> bytes:
    return BALANCE + bytes.fromhex(address) + _text(asset)


def holdings_key(address: str) -> bytes:
    """The sorted symbols of the assets an account holds a balance of: the
    index that makes its balances provably complete."""
    return HOLDINGS + bytes.fromhex(address)


def asset_key(symbol: str) -> bytes:
    return ASSET + _text(symbol)


def meta_key(name: str) -> bytes:
    return META + _text(name)


def param_key(name: str) -> bytes:
    return PARAM + _text(name)


def product_key(merchant: str, sku: str) -> bytes:
    return PRODUCT + bytes.fromhex(merchant) + _text(sku)


def order_key(order_id: str) -> bytes:
    return ORDER + bytes.fromhex(order_id)


def batch_key(batch_id: str) -> bytes:
    return BATCH + bytes.fromhex(batch_id)


def coupon_key(batch_id: str, n: int) -> bytes:
    return COUPON + bytes.fromhex(batch_id) + _u64(n)


def contract_key(contract_id: str) -> bytes:
    return CONTRACT + bytes.fromhex(contract_id)


def trace_key(subject: str) -> bytes:
    return TRACE + _text(subject)


def trace_event_key(subject: str, index: int) -> bytes:
    return TRACE_EVENT + _text(subject) + _u64(index)


def timer_key(due_ms: int, kind: str, record_id: str) -> bytes:
    """Timers sort by due time, then kind, then id: the order steps run in.
    A due time past 2^64 - 1 ms (a timeout set absurdly high) waits at
    2^64 - 1, which no block time reaches."""
    return TIMER + _u64(min(due_ms, MAX_UINT64)) + _text(kind) + bytes.fromhex(record_id)


def parse_timer_key(key: bytes) -> tuple[int, str, str]:
    due_ms = int.from_bytes(key[1:9], "big")
    length = key[9]
    kind = key[10:10 + length].decode()
    return due_ms, kind, key[10 + length:].hex()
