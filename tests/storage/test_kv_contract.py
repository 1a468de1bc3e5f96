"""One contract, two stores: LevelDB and the in-memory twin behave alike."""
import subprocess
import sys
import threading
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from storage.errors import StorageError
from storage.leveldb import LevelDBStore
from storage.memory import MemoryStore


@pytest.fixture(params=["memory", "leveldb"])
def store(request, tmp_path):
    kv = MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "db")
    yield kv
    kv.close()


def test_get_put_delete(store):
    assert store.get(b"k") is None
    store.put(b"k", b"v1")
    store.put(b"k", b"v2")
    assert store.get(b"k") == b"v2"
    store.delete(b"k")
    store.delete(b"never-there")
    assert store.get(b"k") is None


def test_prefix_iteration_is_bytewise_ordered_and_bounded(store):
    for key in [b"b\x00", b"a\xff", b"a", b"a\x00\x01", b"ab", b"\xff\xff", b"\xff"]:
        store.put(key, key[::-1])
    assert [k for k, _ in store.iterate_prefix(b"a")] == [b"a", b"a\x00\x01", b"ab", b"a\xff"]
    assert [k for k, _ in store.iterate_prefix(b"\xff")] == [b"\xff", b"\xff\xff"]
    assert [k for k, _ in store.iterate_prefix(b"")] == sorted([b"b\x00", b"a\xff", b"a", b"a\x00\x01", b"ab", b"\xff\xff", b"\xff"])
    assert list(store.iterate_prefix(b"zz")) == []
    assert dict(store.iterate_prefix(b"ab")) == {b"ab": b"ba"}


def test_iteration_reads_a_snapshot(store):
    store.put(b"p1", b"x")
    store.put(b"p2", b"y")
    seen = []
    for key, _ in store.iterate_prefix(b"p"):
        store.put(b"p3", b"z")
        store.delete(b"p2")
        seen.append(key)
    assert seen == [b"p1", b"p2"]
    assert [k for k, _ in store.iterate_prefix(b"p")] == [b"p1", b"p3"]


def test_batch_applies_atomically(store):
    store.put(b"gone", b"1")
    with store.write_batch(sync=True) as batch:
        batch.put(b"a", b"1")
        batch.delete(b"gone")
        batch.put(b"b", b"2")
    assert (store.get(b"a"), store.get(b"b"), store.get(b"gone")) == (b"1", b"2", None)


def test_batch_that_raises_applies_nothing(store):
    store.put(b"kept", b"1")
    with pytest.raises(ValueError):
        with store.write_batch(sync=True) as batch:
            batch.put(b"a", b"1")
            batch.delete(b"kept")
            raise ValueError("abandon the batch")
    assert store.get(b"a") is None and store.get(b"kept") == b"1"


def test_leveldb_persists_across_reopen(tmp_path):
    first = LevelDBStore(tmp_path / "db")
    with first.write_batch(sync=True) as batch:
        batch.put(b"height", b"\x07")
    first.close()
    second = LevelDBStore(tmp_path / "db")
    assert second.get(b"height") == b"\x07"
    second.close()


def test_leveldb_refuses_a_second_opener(tmp_path):
    first = LevelDBStore(tmp_path / "db")
    try:
        with pytest.raises(StorageError) as error:
            LevelDBStore(tmp_path / "db")
        assert error.value.code == "storage.locked"
    finally:
        first.close()


HOLD_OPEN = (
    "import sys; from storage.leveldb import LevelDBStore; store = LevelDBStore(sys.argv[1]); "
    "print('open', flush=True); sys.stdin.read(); store.close()"
)


def test_leveldb_held_by_another_process_is_reported_as_locked(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(tmp_path / "db")],
                              cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n", holder.stderr.read()
        with pytest.raises(StorageError) as error:
            LevelDBStore(tmp_path / "db")
        assert error.value.code == "storage.locked" and "stop the other node" in str(error.value)
    finally:
        holder.kill()
        holder.communicate(timeout=10)


def test_leveldb_under_a_file_is_reported_unavailable(tmp_path):
    (tmp_path / "not-a-folder").write_bytes(b"")
    with pytest.raises(StorageError) as error:
        LevelDBStore(tmp_path / "not-a-folder" / "db")
    assert error.value.code == "storage.unavailable"


def test_leveldb_with_a_damaged_manifest_is_reported_corrupt(tmp_path):
    LevelDBStore(tmp_path / "db").close()
    (tmp_path / "db" / "CURRENT").write_bytes(b"no newline at the end")
    with pytest.raises(StorageError) as error:
        LevelDBStore(tmp_path / "db")
    assert error.value.code == "storage.corrupt" and "restore a backup" in str(error.value)


def operations_on(keys):
    return st.lists(st.one_of(
        st.tuples(st.just("put"), keys, st.binary(max_size=4)),
        st.tuples(st.just("delete"), keys, st.just(b"")),
        st.tuples(st.just("get"), keys, st.just(b"")),
        st.tuples(st.just("scan"), keys, st.just(b"")),
        st.tuples(st.sampled_from(["batch", "abandoned batch"]),
                  st.lists(st.tuples(keys, st.one_of(st.none(), st.binary(max_size=4))), max_size=5), st.just(b"")),
    ), max_size=40)


KEYS = st.binary(min_size=0, max_size=4)
OPERATIONS = operations_on(KEYS)
FEW_KEYS = st.sampled_from([b"", b"a", b"ab", b"abc", b"b", b"ba"])     # written, deleted and written again


@settings(max_examples=80)
@given(operations=OPERATIONS, prefix=KEYS)
def test_random_operations_match_a_dict_oracle(tmp_path_factory, operations, prefix):
    """Reads and prefix scans in between writes and abandoned batches
    included, so LevelDB's read cache (full-sized, tiny, off, and skipping
    keys that start with 0x00) and the memory store's key order, brought up
    to date at each scan, must always agree with the data."""
    stores = [MemoryStore(), LevelDBStore(tmp_path_factory.mktemp("db")),
              LevelDBStore(tmp_path_factory.mktemp("db"), read_cache_entries=3),
              LevelDBStore(tmp_path_factory.mktemp("db"), read_cache_entries=0),
              LevelDBStore(tmp_path_factory.mktemp("db"), read_cache_entries=3, uncached=b"\x00")]
    oracle: dict[bytes, bytes] = {}
    try:
        for operation, key, value in operations:
            if operation == "get":
                assert all(store.get(key) == oracle.get(key) for store in stores)
                continue
            if operation == "scan":
                found = sorted((k, v) for k, v in oracle.items() if k.startswith(key))
                assert all(list(store.iterate_prefix(key)) == found for store in stores)
                continue
            for store in stores:
                apply(store, operation, key, value)
            apply_to_dict(oracle, operation, key, value)
        expected = sorted((k, v) for k, v in oracle.items() if k.startswith(prefix))
        for store in stores:
            assert list(store.iterate_prefix(prefix)) == expected
            assert all(store.get(k) == v for k, v in oracle.items())
    finally:
        for store in stores:
            store.close()



@settings(max_examples=80)
@given(operations=operations_on(FEW_KEYS), prefix=FEW_KEYS)
def test_the_memory_store_merging_its_key_order_at_every_change_matches_a_dict_oracle(operations, prefix):
    """The same, with the memory store merging its sorted keys as often as
    it can (a real store merges once per thousand changes or more)."""
    with mock.patch("storage.memory._CHANGES_MIN", 0):
        store, oracle = MemoryStore(), {}
        for operation, key, value in operations:
            if operation == "scan":
                assert list(store.iterate_prefix(key)) == sorted((k, v) for k, v in oracle.items() if k.startswith(key))
            elif operation == "get":
                assert store.get(key) == oracle.get(key)
            else:
                apply(store, operation, key, value)
                apply_to_dict(oracle, operation, key, value)
        assert list(store.iterate_prefix(prefix)) == sorted((k, v) for k, v in oracle.items() if k.startswith(prefix))

class Abandon(Exception):
    pass


def apply(store, operation, key, value):
    if operation == "put":
        store.put(key, value)
    elif operation == "delete":
        store.delete(key)
    else:
        try:
            with store.write_batch() as batch:
                for batch_key, batch_value in key:
                    batch.delete(batch_key) if batch_value is None else batch.put(batch_key, batch_value)
                if operation == "abandoned batch":
                    raise Abandon()
        except Abandon:
            pass


def apply_to_dict(oracle, operation, key, value):
    if operation == "put":
        oracle[key] = value
    elif operation == "delete":
        oracle.pop(key, None)
    elif operation == "batch":
        for batch_key, batch_value in key:
            if batch_value is None:
                oracle.pop(batch_key, None)
            else:
                oracle[batch_key] = batch_value


def test_keys_only_written_do_not_push_read_keys_out_of_the_cache(tmp_path):
    """A block writes many keys nobody reads back (its body, tree nodes):
    they must not displace the state keys execution reads."""
    store = LevelDBStore(tmp_path / "db", read_cache_entries=10)
    try:
        store.put(b"hot", b"1")
        assert store.get(b"hot") == b"1"                   # read: cached from now on
        with store.write_batch() as batch:
            for index in range(100):
                batch.put(b"cold%d" % index, b"x")
        store.put(b"hot", b"2")                            # a write to a cached key updates it
        store._db.put(b"hot", b"3")                        # behind the cache's back: only a miss would see it
        assert store.get(b"hot") == b"2"
    finally:
        store.close()


def test_uncached_prefixes_always_read_the_database(tmp_path):
    store = LevelDBStore(tmp_path / "db", uncached=b"\x08")
    try:
        store.put(b"\x08node", b"1")
        assert store.get(b"\x08node") == b"1"
        store._db.put(b"\x08node", b"2")
        assert store.get(b"\x08node") == b"2"
    finally:
        store.close()


def _write(store: LevelDBStore, through_batch: bool, key: bytes, value: bytes) -> None:
    """A commit: one key, through a write batch or a single put."""
    if through_batch:
        with store.write_batch() as batch:
            batch.put(key, value)
    else:
        store.put(key, value)


class _WriterDuringRead:
    """LevelDB whose next ``get`` lets a writer commit right after reading:
    the interleaving of an RPC read on the event loop with the worker
    thread's commit, made deterministic."""

    def __init__(self, db, write) -> None:
        self._db, self._write = db, write

    def get(self, key):
        value = self._db.get(key)
        write, self._write = self._write, None
        if write is not None:
            write()
        return value

    def __getattr__(self, name):
        return getattr(self._db, name)


@pytest.mark.parametrize("through_batch", [True, False])
def test_a_read_overlapping_a_write_is_not_remembered(tmp_path, through_batch):
    """Without the write counter the read would cache the value it saw before
    the write (here: absent) for good: a committed transaction that tx_get
    keeps calling unknown, a balance that never changes on the RPC."""
    store = LevelDBStore(tmp_path / "db")
    try:
        store._db = _WriterDuringRead(store._db, lambda: _write(store, through_batch, b"tx-location", b"height 9"))
        assert store.get(b"tx-location") is None       # read before the write landed
        assert store.get(b"tx-location") == b"height 9"
        assert store.get(b"tx-location") == b"height 9"
    finally:
        store.close()


class _WriterBeforeRemembering:
    """A read cache whose next ``put`` (a read remembering what it saw) first
    lets a writer thread commit, and waits for it up to a deadline: the
    worker's commit landing between a read's check and its remembering."""

    def __init__(self, cache, write) -> None:
        self._cache, self._write = cache, write
        self.writer_finished_first: bool | None = None

    def put(self, key, value):
        write, self._write = self._write, None
        if write is not None:
            writer = threading.Thread(target=write)
            writer.start()
            writer.join(timeout=0.5)           # with the lock the writer waits for this read to finish
            self.writer_finished_first = not writer.is_alive()
            self._writer = writer
        self._cache.put(key, value)

    def __getattr__(self, name):
        return getattr(self._cache, name)


@pytest.mark.parametrize("through_batch", [True, False])
def test_a_write_between_a_reads_check_and_its_remembering_is_not_undone(tmp_path, through_batch):
    """Without the lock the read would put back the nonce the write replaced,
    for good: the next block executed on this node would see a stale nonce."""
    store = LevelDBStore(tmp_path / "db")
    try:
        store.put(b"nonce", b"4")
        store._cache.discard(b"nonce")
        pausing = _WriterBeforeRemembering(store._cache, lambda: _write(store, through_batch, b"nonce", b"5"))
        store._cache = pausing
        assert store.get(b"nonce") == b"4"
        pausing._writer.join(timeout=10)
        assert not pausing._writer.is_alive() and pausing.writer_finished_first is False
        assert store.get(b"nonce") == b"5"
    finally:
        store.close()


def test_a_write_while_a_hit_moves_its_entry_is_not_undone(tmp_path):
    """A hit in the older generation moves the entry to the young one: a
    commit landing in between must not be overwritten by the old value."""
    store = LevelDBStore(tmp_path / "db", read_cache_entries=4)
    try:
        store.put(b"nonce", b"4")
        assert store.get(b"nonce") == b"4"
        for index in range(3):                       # the young generation fills: the entry moves to the older one
            store.get(b"other %d" % index)
        assert b"nonce" in store._cache._older
        writers: list[threading.Thread] = []

        class CommitDuringHit(dict):
            def get(self, key, default=None):
                value = dict.get(self, key, default)
                if key == b"nonce" and not writers:
                    writers.append(threading.Thread(target=lambda: _write(store, True, b"nonce", b"5")))
                    writers[0].start()
                    writers[0].join(timeout=0.5)     # with the lock the writer waits for this hit to finish
                return value
        store._cache._older = CommitDuringHit(store._cache._older)
        assert store.get(b"nonce") == b"4"
        writers[0].join(timeout=10)
        assert not writers[0].is_alive()
        assert store.get(b"nonce") == b"5"
    finally:
        store.close()
