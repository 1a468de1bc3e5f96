"""The in-memory twin of the LevelDB store, for unit tests and the simulator.

Same interface and the same semantics: bytewise key order, prefix iteration
over a snapshot (writes during iteration are not seen by it), atomic batches.
"""
from __future__ import annotations

import bisect
from contextlib import contextmanager
from typing import Iterator

from chain.kv import WriteBatch


class _MemoryBatch:
    def __init__(self) -> None:
        self.writes: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.writes[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        self.writes[bytes(key)] = None


class MemoryStore:
    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._sorted_keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        key = bytes(key)
        if key not in self._values:
            bisect.insort(self._sorted_keys, key)
        self._values[key] = bytes(value)

    def delete(self, key: bytes) -> None:
        if self._values.pop(key, None) is not None:
            del self._sorted_keys[bisect.bisect_left(self._sorted_keys, key)]

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        start = bisect.bisect_left(self._sorted_keys, prefix)
        end = start
        while end < len(self._sorted_keys) and self._sorted_keys[end].startswith(prefix):
            end += 1
        return iter([(key, self._values[key]) for key in self._sorted_keys[start:end]])

    @contextmanager
    def write_batch(self, sync: bool = False) -> Iterator[WriteBatch]:
        """``sync`` has nothing to flush in memory; taken for the same interface."""
        batch = _MemoryBatch()
        yield batch
        for key, value in batch.writes.items():
            if value is None:
                self.delete(key)
            else:
                self.put(key, value)

    def close(self) -> None:
        """Nothing to release; present so both stores close alike."""
