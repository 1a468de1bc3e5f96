"""The result of executing one transaction, and its Merkle leaf.

The leaf is ``pack([ok, code, events])``: the human message is not hashed,
so rewording a message is never a fork.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from chain.encoding import pack, unpack
from chain.errors import DecodeError
from chain.merkle import merkle_root


@dataclass(frozen=True, slots=True)
class TxResult:
    ok: bool
    code: str = ""
    message: str = ""
    events: tuple[dict[str, Any], ...] = field(default=())

    def leaf_bytes(self) -> bytes:
        return pack([self.ok, self.code, list(self.events)])

    def encode(self) -> bytes:
        """Storage form: the leaf's fields plus the message."""
        return pack([self.ok, self.code, self.message, list(self.events)])

    @classmethod
    def decode(cls, raw: bytes) -> "TxResult":
        items = unpack(raw)
        if (
            not isinstance(items, list) or len(items) != 4 or not isinstance(items[0], bool)
            or not isinstance(items[1], str) or not isinstance(items[2], str) or not isinstance(items[3], list)
        ):
            raise DecodeError("result.malformed", "a stored result is [ok, code, message, events]")
        return cls(items[0], items[1], items[2], tuple(items[3]))


def results_root(results: Sequence[TxResult]) -> bytes:
    return merkle_root([result.leaf_bytes() for result in results])
