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
        self._db = _open(self.path)

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


def _open(path: Path) -> plyvel.DB:
    """Open or create the database, turning every failure into a coded StorageError."""
    try:
        return plyvel.DB(str(path), create_if_missing=True)
    except plyvel.CorruptionError as error:
        raise StorageError("storage.corrupt", f"{path} is damaged ({_reason(error)}); restore a backup or resync into an empty data/") from None
    except plyvel.IOError as error:
        if _is_lock_failure(error):
            raise StorageError("storage.locked", f"{path} is in use by another process; stop the other node first") from None
        raise StorageError("storage.unavailable", f"cannot open {path} ({_reason(error)}); check the folder and its permissions") from None


def _reason(error: plyvel.Error) -> str:
    """LevelDB's status text (plyvel passes it as bytes)."""
    text = error.args[0] if error.args else ""
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _is_lock_failure(error: plyvel.IOError) -> bool:
    """LevelDB words a failed LOCK-file lock as "IO error: lock <path>/LOCK: <why>";
    other failures on that file ("IO error: <path>/LOCK: Not a directory") are not locks."""
    return _reason(error).startswith("IO error: lock ")
