"""A write-recording overlay over a key-value reader.

Reads go through to the base unless the overlay wrote the key; writes are
kept in ``writes`` (None marks a delete). A child overlay is opened per
transaction and merged into its parent only when the transaction succeeds,
so a failed transaction leaves no trace.
"""
from __future__ import annotations

import heapq
from typing import Iterator

from chain.kv import KeyValueReader


class Overlay:
    __slots__ = ("_base", "writes", "_reads")

    def __init__(self, base: KeyValueReader, cache_reads: bool = False) -> None:
        """``cache_reads`` remembers what the base answered, for an overlay
        that lives one block over a base that does not change meanwhile:
        the block's transactions read the same accounts again and again."""
        self._base = base
        self.writes: dict[bytes, bytes | None] = {}
        self._reads: dict[bytes, bytes | None] | None = {} if cache_reads else None

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        if self._reads is None:
            return self._base.get(key)
        if key not in self._reads:
            self._reads[key] = self._base.get(key)
        return self._reads[key]

    def put(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Base and overlay merged in ascending key order, deletes hidden."""
        own = sorted((key, value) for key, value in self.writes.items() if key.startswith(prefix))
        own_keys = {key for key, _ in own}
        base = ((key, value) for key, value in self._base.iterate_prefix(prefix) if key not in own_keys)
        for key, value in heapq.merge(own, base, key=lambda item: item[0]):
            if value is not None:
                yield key, value

    def child(self) -> "Overlay":
        return Overlay(self)

    def merge_into(self, parent: "Overlay") -> None:
        parent.writes.update(self.writes)
