"""The state tree's versions above its base live in memory (chain/tree_layers.py,
storage/blockstore.py): checked against a tree that keeps every version."""
from __future__ import annotations

import hashlib
import random
import tracemalloc
from contextlib import contextmanager
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import CodedError
from chain.results import TxResult
from chain.encoding import pack
from chain.kv import WriteBatch
from chain.tree_layers import TreeLayers
from chain.state_tree import (STATE_SCHEME, STATE_TREE_RADIX_BITS, MemoryNodes, StateTree, TreeUpdate, _with_digit, decode_internal, key_path,
                              node_key, ref_hash, ref_is_leaf, ref_version, verify_proof)
from storage import keys
from storage.blockstore import STORED_SCHEME, BlockStore
from storage.errors import StorageError
from storage.memory import MemoryStore
from tests.factories import certify, genesis_tree, make_block, validator_keys
from chain.validators import ValidatorSet

KEYS = validator_keys(4)
VALIDATORS = ValidatorSet.of(key.public_key for key in KEYS)
GENESIS_HASH = hashlib.sha256(b"tree layers genesis").digest()
STATE_KEYS = [b"key/%d" % i for i in range(12)]
GENESIS_STATE = {b"key/0": b"genesis"}


class Reference:
    """Every version of the tree, never pruned: what the store must answer for the heights it keeps."""

    def __init__(self) -> None:
        self.nodes = MemoryNodes()
        self.tree = StateTree(self.nodes, STATE_TREE_RADIX_BITS)
        self.roots: list[bytes | None] = []
        self.states: list[dict[bytes, bytes]] = []

    def commit(self, write_set: dict[bytes, bytes | None]) -> None:
        state = dict(self.states[-1]) if self.states else {}
        for key, value in write_set.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        update = self.tree.update(self.roots[-1] if self.roots else None,
                                  {key_path(k): v for k, v in write_set.items()}, len(self.roots))
        self.nodes.nodes.update(update.nodes)
        self.roots.append(update.root)
        self.states.append(state)

    def reachable(self, height: int) -> set[bytes]:
        """The node keys version ``height`` reads."""
        found: set[bytes] = set()
        stack = [(self.roots[height], 0, bytes(32))]
        while stack:
            ref, depth, path = stack.pop()
            if ref is None:
                continue
            where = node_key(ref_version(ref), depth, path, STATE_TREE_RADIX_BITS)
            found.add(where)
            if not ref_is_leaf(ref):
                for digit_value, child in decode_internal(self.nodes.nodes[where], STATE_TREE_RADIX_BITS).items():
                    stack.append((child, depth + 1, _with_digit(path, depth, digit_value, STATE_TREE_RADIX_BITS)))
        return found


class Chain:
    """A store and the blocks committed to it, the tree's update computed as the node does."""

    def __init__(self, kv: MemoryStore, window: int, memory_bytes: int, base_every: int) -> None:
        self.kv, self.window, self.memory_bytes, self.base_every = kv, window, memory_bytes, base_every
        self.store = self.open()
        self.reference = Reference()
        self.store.commit_genesis(GENESIS_HASH, GENESIS_STATE, genesis_tree(GENESIS_STATE))
        self.reference.commit(GENESIS_STATE)
        self.provable_from = 0          # the base when the store last opened: heights before it may be pruned
        # A spill keeps on disk, for a window, nodes no kept version reads; 0 bytes spills each update alone.
        self.may_keep_unread = 0 < memory_bytes < 10 ** 9

    def open(self) -> BlockStore:
        return BlockStore(self.kv, self.window, self.memory_bytes, self.base_every)

    def commit(self, write_set: dict[bytes, bytes | None]) -> None:
        height = self.store.last_height() + 1
        prev = GENESIS_HASH if height == 1 else self.store.last_block_hash()
        block = make_block(height, prev, VALIDATORS, [b"tx %d" % height])
        update = StateTree(self.store, STATE_TREE_RADIX_BITS).update(
            self.store.tree_root(height - 1), {key_path(k): v for k, v in write_set.items()}, height)
        self.store.commit(block, certify(block, KEYS, VALIDATORS), [TxResult(True)], write_set, update)
        self.reference.commit(write_set)
        assert self.store.tree_memory()[1] <= self.memory_bytes

    def reopen(self) -> None:
        self.provable_from = self.store.tree_base()
        self.store = self.open()

    def check(self) -> None:
        store, reference = self.store, self.reference
        last = store.last_height()
        oldest = max(0, last - self.window + 1)
        assert last - store.tree_base() <= max(self.window - 1, 0)
        tree = StateTree(store, STATE_TREE_RADIX_BITS)
        for height in range(oldest, last + 1):
            root = store.tree_root(height)
            assert ref_hash(root) == ref_hash(reference.roots[height])
            for key in STATE_KEYS:
                try:
                    value, proof = tree.prove(root, key_path(key))
                except CodedError as error:   # lost with memory on reopening: only below the base it reopened at
                    assert error.code == "state.pruned" and height < self.provable_from, (height, key)
                    continue
                assert value == reference.states[height].get(key), (height, key)
                verify_proof(ref_hash(root), key_path(key), value, proof, STATE_TREE_RADIX_BITS)
        if oldest > 0:
            with pytest.raises(CodedError) as pruned:
                store.tree_root(oldest - 1)
            assert pruned.value.code == "state.pruned"
        kept = set().union(*(reference.reachable(h) for h in range(oldest, last + 1)))
        on_disk = {key[len(keys.TREE_NODE):] for key, _ in self.kv.iterate_prefix(keys.TREE_NODE)}
        if not self.may_keep_unread:
            assert on_disk <= kept, "a node no kept version reads stayed on disk"
        above_base = {key[len(keys.TREE_CHANGES):] for key, _ in self.kv.iterate_prefix(keys.TREE_CHANGES)}
        assert {keys.decode_height(h) for h in above_base} == set(range(store.tree_base() + 1, last + 1))


write_sets = st.dictionaries(st.sampled_from(STATE_KEYS), st.one_of(st.none(), st.binary(min_size=1, max_size=40)),
                             min_size=1, max_size=6)
steps = st.lists(st.one_of(write_sets, st.just("reopen")), min_size=1, max_size=30)


@settings(max_examples=60)
@given(window=st.integers(1, 6), memory_bytes=st.sampled_from([0, 1_500, 10 ** 9]), base_every=st.integers(1, 8),
       steps=steps)
def test_every_kept_version_answers_like_a_tree_that_keeps_them_all(window, memory_bytes, base_every, steps):
    chain = Chain(MemoryStore(), window, memory_bytes, base_every)
    chain.check()
    for step in steps:
        if step == "reopen":
            chain.reopen()
        else:
            chain.commit(step)
        chain.check()


def test_versions_stay_in_memory_until_a_promotion_writes_what_the_newest_reads():
    chain = Chain(MemoryStore(), window=10, memory_bytes=10 ** 9, base_every=4)
    disk_nodes = lambda: sum(1 for _ in chain.kv.iterate_prefix(keys.TREE_NODE))   # noqa: E731
    genesis_nodes = disk_nodes()
    for height in range(1, 5):
        chain.commit({b"key/%d" % height: b"v%d" % height})
        assert disk_nodes() == genesis_nodes and chain.store.tree_base() == 0
    assert chain.store.tree_memory()[0] > 0
    chain.commit({b"key/5": b"v5"})
    assert chain.store.tree_base() == 5
    on_disk = {key[len(keys.TREE_NODE):] for key, _ in chain.kv.iterate_prefix(keys.TREE_NODE)}
    assert chain.reference.reachable(5) <= on_disk, "the new base is whole on disk"
    chain.check()


def test_past_the_memory_budget_every_node_goes_to_disk():
    chain = Chain(MemoryStore(), window=10, memory_bytes=600, base_every=9)
    for height in range(1, 8):
        chain.commit({b"key/1": b"v%d" % height, b"key/%d" % height: b"x"})   # the budget is checked in commit
    assert chain.store.tree_base() > 0, "no promotion is due before height 10: the base moved by a spill"
    chain.check()


def test_a_damaged_or_missing_record_of_changes_is_refused_on_opening():
    kv = MemoryStore()
    chain = Chain(kv, window=10, memory_bytes=10 ** 9, base_every=9)
    for height in range(1, 4):
        chain.commit({b"key/1": b"v%d" % height})
    kv.put(keys.tree_changes_key(2), pack([[b"key/1", b"another value"]]))
    with pytest.raises(StorageError) as damaged:
        chain.open()
    assert damaged.value.code == "storage.corrupt" and "height 2" in str(damaged.value)
    kv.delete(keys.tree_changes_key(2))
    with pytest.raises(StorageError) as missing:
        chain.open()
    assert missing.value.code == "storage.corrupt" and "missing" in str(missing.value)


def test_a_first_block_without_genesis_reopens_on_the_empty_tree():
    kv = MemoryStore()
    store = BlockStore(kv, 10, 10 ** 9, 9)
    block = make_block(1, GENESIS_HASH, VALIDATORS, [b"tx 1"])
    writes = {b"key/1": b"v1"}
    update = StateTree(store, STATE_TREE_RADIX_BITS).update(None, {key_path(k): v for k, v in writes.items()}, 1)
    store.commit(block, certify(block, KEYS, VALIDATORS), [TxResult(True)], writes, update)
    reopened = BlockStore(kv, 10, 10 ** 9, 9)
    assert StateTree(reopened, STATE_TREE_RADIX_BITS).get(reopened.tree_root(1), key_path(b"key/1")) == b"v1"


def test_a_block_without_its_tree_is_refused_while_versions_sit_above_the_base():
    chain = Chain(MemoryStore(), window=10, memory_bytes=10 ** 9, base_every=9)
    chain.commit({b"key/1": b"v1"})
    block = make_block(2, chain.store.last_block_hash(), VALIDATORS, [b"tx 2"])
    with pytest.raises(RuntimeError, match="every block commits with its tree"):
        chain.store.commit(block, certify(block, KEYS, VALIDATORS), [TxResult(True)], {b"key/2": b"v2"})
    assert chain.store.last_height() == 1


def test_the_layout_is_named_so_that_code_before_it_refuses_the_data():
    """Code before the tree's base reads META_STATE_SCHEME and refuses any name but the bare scheme;
    a data/ of the older layout (every node on disk) opens here and takes the new name at its next commit."""
    kv = MemoryStore()
    chain = Chain(kv, window=10, memory_bytes=10 ** 9, base_every=9)
    assert kv.get(keys.META_STATE_SCHEME) == STORED_SCHEME.encode() != STATE_SCHEME.encode()
    kv.put(keys.META_STATE_SCHEME, STATE_SCHEME.encode())      # as the older layout wrote it
    kv.delete(keys.META_TREE_BASE)
    chain.store = chain.open()
    assert chain.store.tree_base() == 0
    chain.commit({b"key/1": b"v1"})
    assert kv.get(keys.META_STATE_SCHEME) == STORED_SCHEME.encode()
    chain.check()


class _FailingWrites(MemoryStore):
    """A store whose next batch fails as it is written, as a full disk makes LevelDB's fail."""

    fail_next = False

    @contextmanager
    def write_batch(self, sync: bool = False) -> Iterator[WriteBatch]:
        with super().write_batch(sync) as batch:
            yield batch
            if self.fail_next:
                self.fail_next = False
                raise OSError("No space left on device")


def test_a_failed_batch_leaves_the_records_it_would_have_taken_for_the_next_one():
    kv = _FailingWrites()
    chain = Chain(kv, window=2, memory_bytes=0, base_every=1)
    for height in range(1, 5):
        chain.commit({b"key/%d" % (height % 3): b"v%d" % height})
    kv.fail_next = True
    with pytest.raises(OSError):
        chain.commit({b"key/1": b"lost"})
    chain.check()
    for height in range(5, 9):
        chain.commit({b"key/%d" % (height % 3): b"w%d" % height})
    chain.check()


def test_the_memory_held_is_counted_as_what_the_nodes_take():
    """``held_bytes``, which the memory budget is checked against, is within
    a fifth of what holding the nodes allocates (their bytes alone are about
    half of it)."""
    rng = random.Random(3)
    nodes = MemoryNodes()
    tree, root = StateTree(nodes, STATE_TREE_RADIX_BITS), None
    updates = []
    for version in range(1, 32):
        changes = ({key_path(b"k%d" % i): b"v" * 40 for i in range(10_000)} if version == 1 else
                   {key_path(b"k%d" % rng.randrange(12_000)): b"w%d" % version * rng.randrange(1, 20) for _ in range(200)})
        update = tree.update(root, changes, version)
        nodes.nodes.update(update.nodes)
        root = update.root
        updates.append(update)
    updates = updates[1:]                  # versions 2-31, above the layers' base, version 1
    layers = TreeLayers(1)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for height, update in enumerate(updates, 2):
            # Copies made here, as a block's update is made afresh, so that what they take is traced.
            fresh = TreeUpdate(update.root, {bytes(bytearray(k)): bytes(bytearray(v)) for k, v in update.nodes.items()},
                               [bytes(bytearray(k)) for k in update.stale])
            layers.stage(fresh)
            layers.settle(height, fresh)
            layers.forget_up_to(height - 8)
            del fresh
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.8 * taken <= layers.held_bytes <= 1.2 * taken, (layers.held_bytes, taken)
