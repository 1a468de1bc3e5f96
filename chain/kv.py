"""The key-value interface every layer reads and writes state through.

``storage/`` implements it twice, over LevelDB and in memory; ``commerce/``
and the executor see only these protocols, so they never know which.
Keys and values are bytes; iteration is in ascending bytewise key order.
"""
from __future__ import annotations

from typing import ContextManager, Iterator, Protocol


class KeyValueReader(Protocol):
    def get(self, key: bytes) -> bytes | None:
        """The value at ``key``, or None when absent."""

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with ``prefix``, keys ascending."""


class WriteBatch(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class KeyValueStore(KeyValueReader, Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def write_batch(self, sync: bool = False) -> ContextManager[WriteBatch]:
        """A batch applied atomically when the ``with`` block exits without an
        exception, durably when ``sync``; discarded when it raises."""

    def close(self) -> None: ...
