"""The LevelDB store (plyvel): one database per node home, under ``data/``.

Prefix iteration reads a snapshot, so writes made while iterating are not
seen by that iteration (the same as the memory twin). A write batch is
applied atomically when its ``with`` block ends cleanly, with ``fsync`` when
``sync`` is set, and discarded when the block raises.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import plyvel

from chain.kv import WriteBatch
from storage.errors import StorageError


class LevelDBStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = plyvel.DB(str(self.path), create_if_missing=True)
        except plyvel.IOError as error:
            if "lock" in str(error).lower():
                raise StorageError("storage.locked", f"{self.path} is in use by another process; stop the other node first") from None
            raise StorageError("storage.unavailable", f"cannot open {self.path}: {error}; check the folder and its permissions") from None
        except plyvel.CorruptionError as error:
            raise StorageError("storage.corrupt", f"{self.path} is damaged ({error}); restore a backup or resync into an empty data/") from None

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)

    def delete(self, key: bytes) -> None:
        self._db.delete(key)

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        snapshot = self._db.snapshot()
        try:
            yield from snapshot.iterator(prefix=prefix)
        finally:
            snapshot.close()

    @contextmanager
    def write_batch(self, sync: bool = False) -> Iterator[WriteBatch]:
        with self._db.write_batch(transaction=True, sync=sync) as batch:
            yield batch

    def close(self) -> None:
        self._db.close()
