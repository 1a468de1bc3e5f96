"""Checks of a transaction body's fields; each failure is ``body.*``."""
from __future__ import annotations

import re
from typing import Any, Mapping

from chain.constants import MAX_UINT64
from chain.keys import is_address
from commerce.errors import TxRejected

IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
HEX_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
DECIMAL_PATTERN = re.compile(r"[0-9]+")
TEXT_BYTES_MAX = 256
HASH_BYTES = 32


def check_fields(body: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    # Verify every required field is present and no unknown field is
    missing = [name for name in required if name not in body]
    if missing:
        raise TxRejected("body.missing_field", f"body lacks {', '.join(missing)}; add the field(s)")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise TxRejected("body.unknown_field", f"body has unknown field(s) {', '.join(unknown)}; remove them")


def _invalid(name: str, expected: str) -> TxRejected:
    return TxRejected("body.invalid", f"field {name} must be {expected}; fix the body")


def address_field(body: Mapping[str, Any], name: str) -> str:
    value = body[name]
    if not is_address(value):
        raise _invalid(name, "a lowercase hex public key")
    return value


def amount_field(body: Mapping[str, Any], name: str, minimum: int = 1) -> int:
    value = body[name]
    if type(value) is not int or not minimum <= value <= MAX_UINT64:
        raise _invalid(name, f"an integer from {minimum}")
    return value


def bps_field(body: Mapping[str, Any], name: str) -> int:
    value = body[name]
    if type(value) is not int or not 0 <= value <= 10_000:
        raise _invalid(name, "an integer from 0 to 10000 (basis points)")
    return value


def hash_field(body: Mapping[str, Any], name: str) -> bytes:
    value = body[name]
    if not isinstance(value, bytes) or len(value) != HASH_BYTES:
        raise _invalid(name, f"{HASH_BYTES} bytes (a SHA-256 digest)")
    return value


def text_field(body: Mapping[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not 0 < len(value.encode()) <= TEXT_BYTES_MAX:
        raise _invalid(name, f"text of 1..{TEXT_BYTES_MAX} bytes")
    return value


def identifier_field(body: Mapping[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not IDENTIFIER_PATTERN.fullmatch(value):
        raise _invalid(name, "a name matching [A-Za-z0-9._-]{1,64}")
    return value


def is_hex_id(value: Any) -> bool:
    """True for 64 lowercase hex digits: a transaction id or an account."""
    return isinstance(value, str) and HEX_ID_PATTERN.fullmatch(value) is not None


def is_decimal(value: Any) -> bool:
    """True for ASCII decimal digits only: ``str.isdigit`` also takes "²",
    which ``int`` refuses, and "٣", which ``int`` reads as 3."""
    return isinstance(value, str) and DECIMAL_PATTERN.fullmatch(value) is not None


def id_field(body: Mapping[str, Any], name: str) -> str:
    """A transaction id naming an order, batch or contract."""
    value = body[name]
    if not is_hex_id(value):
        raise _invalid(name, "a transaction id (64 lowercase hex digits)")
    return value


def list_field(body: Mapping[str, Any], name: str, length_max: int | None = None) -> list[Any]:
    """A non-empty list of at most ``length_max`` items. The cap is the chain
    parameter ``list_length_max``: without it (no state at hand) only the
    rest is checked."""
    value = body[name]
    if not isinstance(value, list) or not value or (length_max is not None and len(value) > length_max):
        raise _invalid(name, "a non-empty list" if length_max is None else f"a list of 1..{length_max} items")
    return value
