"""A bounded map that keeps what was used lately, in two generations.

Half the entries in each: a new or used entry goes into the young
generation; when it fills, it becomes the old one and the old one is
dropped; an entry found in the old one moves back to the young. Amortised
O(1) and no per-entry bookkeeping. The store's read cache and the state
tree's node cache are both one of these.
"""
from __future__ import annotations

from typing import Generic, TypeVar

Value = TypeVar("Value")
MISSING = object()   # what ``get`` answers for a key not held (None may be a held value)


class Generations(Generic[Value]):
    def __init__(self, entries: int) -> None:
        self._young: dict[bytes, Value] = {}
        self._older: dict[bytes, Value] = {}
        self._generation_max = entries // 2

    def get(self, key: bytes) -> Value | object:
        """The value held for ``key`` (moved to the young generation), or ``MISSING``."""
        try:
            return self._young[key]
        except KeyError:
            pass
        value = self._older.get(key, MISSING)
        if value is not MISSING:
            self.put(key, value)
        return value

    def put(self, key: bytes, value: Value) -> None:
        if not self._generation_max:
            return
        if len(self._young) >= self._generation_max:
            self._older = self._young
            self._young = {}
        self._young[key] = value

    def holds(self, key: bytes) -> bool:
        return key in self._young or key in self._older

    def discard(self, key: bytes) -> None:
        self._young.pop(key, None)
        self._older.pop(key, None)

    def __len__(self) -> int:
        return len(self._young) + len(self._older)
