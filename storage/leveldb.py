"""The LevelDB store (plyvel): one database per node home, under ``data/``.

A read cache of small values (absent keys included) sits in front of
LevelDB: the commerce executor reads a few keys per transaction, and a
Python dict answers a hot key in well under a microsecond where a LevelDB
get over a state of 100,000 accounts costs several. A key enters the cache
when it is read; a write updates a key the cache holds, only once LevelDB
has applied it, so the cache never holds a value the database does not; a
read that overlaps a write (the RPC reads while the worker commits) is not
remembered, as it may have seen the value before the write. Every change
to the cache happens under one lock, which a write takes to start and to
finish: a read decides to remember and remembers under it (else a write
could start and finish between the two, and the read would put back the
value it replaced, for good), and so does a hit, which moves the entry to
the young generation. A
key only written (a block, a transaction's location, a state tree node:
most of a block's writes) never displaces what is read.
Keys under the ``uncached`` prefixes (state tree nodes, which have their own
cache, chain/tree_cache.py, and the lists of nodes to prune, each read once)
are never cached here.

Prefix iteration reads a snapshot, so writes made while iterating are not
seen by that iteration (the same as the memory twin). A write batch is
applied atomically when its ``with`` block ends cleanly, with ``fsync`` when
``sync`` is set, and discarded when the block raises.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import plyvel

from chain.generations import MISSING, Generations
from chain.kv import WriteBatch
from storage.errors import StorageError


# Decoded blocks kept in memory: 64 MiB holds the hot state of a few hundred
# thousand accounts, where LevelDB's 8 MiB default thrashes.
BLOCK_CACHE_BYTES = 64 * 1024 * 1024
# Bloom filters at 10 bits a key skip ~99 % of disk reads for absent keys
# (LevelDB's recommended setting); commerce asks for many keys not yet written.
BLOOM_FILTER_BITS = 10
# Writes gather in a 64 MiB memtable before LevelDB sorts them into a table
# (its default is 4 MiB): a block's tree nodes, most of them pruned a proof
# window later, reach the compactions in fewer, larger files. And no Snappy:
# what the chain stores is mostly hashes and signatures, which do not
# compress, while every flush and compaction would pay to try. Together they
# cut the compaction thread's CPU under a steady load roughly tenfold
# (docs/benchmarks.md, "Latency that holds").
WRITE_BUFFER_BYTES = 64 * 1024 * 1024
# The read cache: entries kept, in two generations (chain/generations.py:
# the recently used stay, at amortised O(1)), and the largest value cached
# (blocks and results are written once and rarely read, so they stay out).
READ_CACHE_ENTRIES = 500_000
READ_CACHE_VALUE_MAX = 1024


class _RecordingBatch:
    """Passes writes to LevelDB's batch and remembers them for the cache."""

    def __init__(self, batch: plyvel.WriteBatch) -> None:
        self._batch = batch
        self.writes: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self._batch.put(key, value)
        self.writes[bytes(key)] = bytes(value)

    def delete(self, key: bytes) -> None:
        self._batch.delete(key)
        self.writes[bytes(key)] = None


class LevelDBStore:
    def __init__(self, path: str | Path, read_cache_entries: int = READ_CACHE_ENTRIES, uncached: bytes = b"") -> None:
        """``uncached``: first bytes of keys the read cache never holds."""
        self.path = Path(path)
        self._db = _open(self.path)
        self._cache: Generations[bytes | None] = Generations(read_cache_entries)
        self._uncached = frozenset(uncached)
        # Odd while a write is being applied; a read overlapping a write may
        # have read the value before it and must not be remembered (a seqlock:
        # the node reads on its event loop while its worker thread writes).
        self._writes = 0
        self._cache_lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        with self._cache_lock:            # a hit in the older generation moves the entry: a write, too
            value = self._cache.get(key)
        if value is not MISSING:
            return value
        before = self._writes
        value = self._db.get(key)
        if not (before & 1 or (key and key[0] in self._uncached)):
            with self._cache_lock:
                if self._writes == before:
                    self._remember(bytes(key), value)
        return value

    def _write_starts(self) -> None:
        with self._cache_lock:
            self._writes += 1

    def _write_ends(self, written: dict[bytes, bytes | None]) -> None:
        """The cache follows what LevelDB has applied, for the keys it holds."""
        with self._cache_lock:
            for key, value in written.items():
                if self._cache.holds(key):
                    self._remember(key, value)
            self._writes += 1

    def put(self, key: bytes, value: bytes) -> None:
        self._write_one(key, value)

    def delete(self, key: bytes) -> None:
        self._write_one(key, None)

    def _write_one(self, key: bytes, value: bytes | None) -> None:
        """One key written (None: deleted) outside a batch."""
        self._write_starts()
        written: dict[bytes, bytes | None] = {}
        try:
            if value is None:
                self._db.delete(key)
            else:
                self._db.put(key, value)
            written[bytes(key)] = None if value is None else bytes(value)
        finally:
            self._write_ends(written)

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        snapshot = self._db.snapshot()
        try:
            yield from snapshot.iterator(prefix=prefix)
        finally:
            snapshot.close()

    @contextmanager
    def write_batch(self, sync: bool = False) -> Iterator[WriteBatch]:
        applied: dict[bytes, bytes | None] | None = None
        try:
            with self._db.write_batch(transaction=True, sync=sync) as batch:
                recording = _RecordingBatch(batch)
                yield recording
                self._write_starts()      # the batch is applied as this block ends
                applied = {}
            applied = recording.writes
        finally:
            if applied is not None:
                self._write_ends(applied)

    def _remember(self, key: bytes, value: bytes | None) -> None:
        if value is not None and len(value) > READ_CACHE_VALUE_MAX:
            self._cache.discard(key)
        else:
            self._cache.put(key, value)

    def compact(self) -> None:
        """Compact the whole key range now (after a bulk load, say), rather
        than leaving the work to background compactions."""
        self._db.compact_range()

    def close(self) -> None:
        self._db.close()


def _open(path: Path) -> plyvel.DB:
    """Open or create the database, then have LevelDB start its background
    thread at a lower CPU priority.

    LevelDB flushes memtables and merges tables on one background thread a
    process, started by the first call that has work for it; a new thread
    takes its creator's nice value. So a no-op compaction, asked for from a
    short-lived thread at ``BACKGROUND_NICE``, starts it there: under load the
    four validators of a testnet used to merge at the same moments and take
    both cores from consensus for a second at a time (docs/benchmarks.md,
    "Compactions at a lower priority"). A nice value, not idle scheduling:
    an idle-class thread gets next to no CPU while any other thread on the
    machine runs, and the node's writes would wait on it for tens of seconds;
    at nice 10 it still gets about a tenth of a core against each busy one.
    The opening itself (which replays LevelDB's log after a crash) runs at
    the caller's priority; if it already started the background thread, that
    thread keeps the caller's priority.
    """
    db = _open_database(path)
    failure: list[BaseException] = []

    def start_background_thread() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, BACKGROUND_NICE)     # this thread only, on Linux
        except OSError:
            pass                           # refused: the background thread keeps the node's priority
        try:
            db.compact_range(start=_PAST_EVERY_KEY, stop=_PAST_EVERY_KEY + b"\x00")
        except BaseException as error:     # handed to the caller's thread
            failure.append(error)

    starter = threading.Thread(target=start_background_thread, name="leveldb-background", daemon=True)
    starter.start()
    starter.join()
    if failure:
        db.close()
        error = failure[0]
        if isinstance(error, plyvel.Error):
            raise StorageError("storage.unavailable", f"cannot start LevelDB's background work in {path} "
                                                      f"({_reason(error)}); check the disk and the folder") from None
        raise error
    return db


# The nice value LevelDB's background thread runs at (the node's own threads run at 0).
BACKGROUND_NICE = 10
# Above every key of the store (keys start with a type byte below 0xff, storage/keys.py).
_PAST_EVERY_KEY = b"\xff" * 8


def _open_database(path: Path) -> plyvel.DB:
    """Open or create the database, turning every failure into a coded StorageError."""
    try:
        return plyvel.DB(str(path), create_if_missing=True, lru_cache_size=BLOCK_CACHE_BYTES, bloom_filter_bits=BLOOM_FILTER_BITS,
                         write_buffer_size=WRITE_BUFFER_BYTES, compression=None)
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
