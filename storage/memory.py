"""The in-memory twin of the LevelDB store, for unit tests and the simulator.

Same interface and the same semantics: bytewise key order, prefix iteration
over a snapshot (writes during iteration are not seen by it), atomic batches.
"""
from __future__ import annotations

import bisect
from contextlib import contextmanager
from typing import Iterator

from chain.kv import WriteBatch

_CHANGES_MIN = 1024     # a store this small merges its keys at most once per this many changes


class _MemoryBatch:
    def __init__(self) -> None:
        self.writes: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.writes[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        self.writes[bytes(key)] = None


class MemoryStore:
    """Keys are kept in a dict, their order in a sorted list brought up to
    date only once the keys added and removed since outnumber a sixteenth of
    it (one merge), so a write costs a few set operations, not an insertion
    into a sorted list; a scan in between also reads the few keys added."""

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._sorted_keys: list[bytes] = []     # as of the last merge
        self._added: set[bytes] = set()         # since then: in _values, not in _sorted_keys
        self._removed: set[bytes] = set()       # since then: in _sorted_keys, not in _values

    def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        key = bytes(key)
        if key not in self._values:
            if key in self._removed:
                self._removed.discard(key)
            else:
                self._added.add(key)
                self._merge_if_due()
        self._values[key] = bytes(value)

    def delete(self, key: bytes) -> None:
        if self._values.pop(key, None) is not None:
            if key in self._added:
                self._added.discard(key)
            else:
                self._removed.add(key)
                self._merge_if_due()

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        keys = self._sorted_keys
        start = end = bisect.bisect_left(keys, prefix)
        while end < len(keys) and keys[end].startswith(prefix):
            end += 1
        found = [key for key in keys[start:end] if key not in self._removed]
        found.extend(key for key in self._added if key.startswith(prefix))
        found.sort()
        return iter([(key, self._values[key]) for key in found])

    def _merge_if_due(self) -> None:
        if len(self._added) + len(self._removed) > max(_CHANGES_MIN, len(self._sorted_keys) // 16):
            removed = self._removed
            self._sorted_keys = [key for key in self._sorted_keys if key not in removed]
            self._sorted_keys.extend(sorted(self._added))
            self._sorted_keys.sort()        # two sorted runs: one merge
            self._added, self._removed = set(), set()

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
