"""The block store: one atomic commit per block, every read agrees, reopen resumes."""
import dataclasses
import hashlib

import pytest

from chain.block import Block
from chain.errors import CodedError
from chain.merkle import merkle_root
from chain.results import TxResult
from chain.state_tree import (
    STATE_TREE_RADIX_BITS, StateTree, _with_digit, decode_internal, key_path, node_key, ref_hash, state_changes, verify_proof,
)
from chain.validators import ValidatorSet
from chain.votes import verify_certificate
from storage.blockstore import BlockStore, open_block_store
from storage.keys import decode_height
from storage.memory import MemoryStore
from tests.chain.state_tree_reference import state_root_of
from tests.factories import CHAIN_ID, certified_chain, certify, genesis_tree, make_block, validator_keys

KEYS = validator_keys(4)
VALIDATORS = ValidatorSet.of(key.public_key for key in KEYS)
GENESIS = hashlib.sha256(b"genesis").digest()
CHAIN = certified_chain(4, KEYS, txs_per_block=3, genesis_hash=GENESIS)


def results_for(block):
    return [TxResult(i % 2 == 0, "" if i % 2 == 0 else "funds.insufficient", f"result {i}", ({"type": "t", "i": i},))
            for i in range(len(block.txs))]


def filled(store: BlockStore, blocks=CHAIN) -> BlockStore:
    genesis_writes = {b"acct/a": b"100", b"acct/b": b"5"}
    store.commit_genesis(GENESIS, genesis_writes, genesis_tree(genesis_writes))
    for height, (block, certificate) in enumerate(blocks, start=1):
        store.commit(block, certificate, results_for(block), {b"acct/a": b"%d" % (100 - height), b"acct/b": None if height == 2 else b"5"})
    return store


@pytest.fixture(params=["memory", "leveldb"])
def store(request, tmp_path):
    made = BlockStore(MemoryStore()) if request.param == "memory" else open_block_store(tmp_path / "data")
    yield made
    made.close()


def test_every_read_agrees_with_what_was_committed(store):
    filled(store)
    assert store.last_height() == 4 and store.genesis_hash() == GENESIS
    assert store.last_block_hash() == CHAIN[-1][0].hash()
    assert store.last_state_root() == CHAIN[-1][0].header.state_root
    for height, (block, certificate) in enumerate(CHAIN, start=1):
        assert store.block_by_height(height) == block
        assert store.block_by_hash(block.hash()) == block
        assert store.certificate(height) == certificate
        verify_certificate(store.certificate(height), VALIDATORS, CHAIN_ID, height, block.hash())
        assert store.results(height) == results_for(block)
        for index, raw in enumerate(block.txs):
            found = store.transaction(hashlib.sha256(raw).hexdigest())
            assert (found.raw, found.height, found.index, found.block_hash) == (raw, height, index, block.hash())
            assert found.result == results_for(block)[index]
    assert store.block_by_height(5) is None and store.block_by_hash(b"\x00" * 32) is None
    assert store.transaction("00" * 32) is None and store.transaction("not hex") is None


def test_state_reflects_each_write_set_including_deletions(store):
    filled(store)
    state = store.state()
    assert state.get(b"acct/a") == b"96" and state.get(b"acct/b") == b"5"
    assert list(state.iterate_prefix(b"acct/")) == [(b"acct/a", b"96"), (b"acct/b", b"5")]
    partial = BlockStore(MemoryStore())
    filled(partial, CHAIN[:2])
    assert partial.state().get(b"acct/b") is None


def test_refuses_a_block_that_does_not_extend_the_chain(store):
    filled(store, CHAIN[:2])
    block, certificate = CHAIN[3]
    with pytest.raises(RuntimeError):
        store.commit(block, certificate, results_for(block), {})
    forked = certified_chain(3, KEYS, txs_per_block=1, genesis_hash=GENESIS)[2]
    with pytest.raises(RuntimeError):
        store.commit(forked[0], forked[1], results_for(forked[0]), {})
    assert store.last_height() == 2


def test_genesis_is_written_once(store):
    filled(store, [])
    with pytest.raises(RuntimeError):
        store.commit_genesis(GENESIS, {}, genesis_tree({}))


def test_reopened_leveldb_home_resumes_at_its_height(tmp_path):
    filled(open_block_store(tmp_path / "data"), CHAIN[:3]).close()
    reopened = open_block_store(tmp_path / "data")
    assert reopened.last_height() == 3 and reopened.last_block_hash() == CHAIN[2][0].hash()
    block, certificate = CHAIN[3]
    reopened.commit(block, certificate, results_for(block), {})
    assert reopened.last_height() == 4
    reopened.close()


def test_evidence_in_blocks_is_indexed(store):
    store.commit_genesis(GENESIS, {}, genesis_tree({}))
    empty = make_block(1, GENESIS, VALIDATORS, [])
    block = Block(dataclasses.replace(empty.header, evidence_root=merkle_root([b"record"])), (), (b"record",))
    store.commit(block, certify(block, KEYS, VALIDATORS), [], {})
    assert list(store.evidence()) == [(1, b"record")]


def test_first_block_without_a_genesis_commit_stores_its_prev_hash_as_genesis(store):
    block, certificate = CHAIN[0]
    store.commit(block, certificate, results_for(block), {b"acct/a": b"1"})
    assert store.genesis_hash() == GENESIS == block.header.prev_hash
    assert store.last_height() == 1 and store.last_block_hash() == block.hash()
    assert store.state().get(b"acct/a") == b"1"


@pytest.mark.parametrize("in_memory", [False, True], ids=["every node to disk", "versions above the base in memory"])
@pytest.mark.parametrize("window_of, kept, stale_left", [
    (lambda height: 4, range(7, 11), [8, 9, 10]),
    (lambda height: 1, range(10, 11), []),
    (lambda height: 8 if height <= 6 else 2, range(9, 11), [10]),
], ids=["four heights", "one height", "lowered from eight to two between runs"])
def test_the_state_tree_proves_every_kept_height_and_prunes_what_none_of_them_reads(store, window_of, kept, stale_left,
                                                                                    in_memory):
    """The kept heights each prove their own state; older ones answer
    state.pruned, and the store holds exactly the nodes and roots the kept
    versions read (on disk, or in memory above the tree's base), whatever
    the window was before."""
    if not in_memory:
        store.tree_memory_bytes = 0        # each commit writes its nodes to disk
    states = [{b"acct/a": b"100", b"acct/b": b"5"}]
    store.commit_genesis(GENESIS, states[0], genesis_tree(states[0]))
    chain = certified_chain(10, KEYS, txs_per_block=1, genesis_hash=GENESIS)
    scans: list[bytes] = []
    iterate_prefix = store.kv.iterate_prefix
    store.kv.iterate_prefix = lambda prefix: scans.append(prefix) or iterate_prefix(prefix)
    for height, (block, certificate) in enumerate(chain, start=1):
        store.proof_window_blocks = window_of(height)
        writes = {b"acct/a": b"%d" % height, b"acct/%d" % height: b"x", b"acct/b": None if height % 3 == 0 else b"%d" % height}
        update = StateTree(store, STATE_TREE_RADIX_BITS).update(store.tree_root(height - 1), state_changes(writes), height)
        store.commit(block, certificate, results_for(block), writes, update)
        state = {key: value for key, value in {**states[-1], **writes}.items() if value is not None}
        states.append(state)
    del store.kv.iterate_prefix
    # Pruning reads by key: a scan from the prefix would pass every record deleted before (LevelDB keeps
    # a marker for each until a compaction), so a commit would cost more the longer the chain.
    assert scans.count(b"\x0a") <= 1 and scans.count(b"\x09") <= 1
    for height in kept:
        root = store.tree_root(height)
        assert ref_hash(root) == state_root_of(states[height].items())
        for key in (b"acct/a", b"acct/b", b"acct/3", b"acct/zz"):
            found, proof = StateTree(store, STATE_TREE_RADIX_BITS).prove(root, key_path(key))
            assert found == states[height].get(key)
            verify_proof(ref_hash(root), key_path(key), found, proof, STATE_TREE_RADIX_BITS)
    with pytest.raises(CodedError) as pruned:
        store.tree_root(kept[0] - 1)
    assert pruned.value.code == "state.pruned"
    assert [decode_height(key[1:]) for key, _ in store.kv.iterate_prefix(b"\x09")] == list(kept)
    read = set().union(*(_reachable(store, store.tree_root(height)) for height in kept))
    on_disk = {key[1:] for key, _ in store.kv.iterate_prefix(b"\x08")}
    if in_memory:
        assert on_disk <= read
        assert store.tree_memory()[0] > 0 or len(kept) < 4, "four heights keep versions above the base in memory"
    else:
        assert on_disk == read
        # What the kept heights but the oldest replaced waits for its turn; older lists went with their nodes.
        assert [decode_height(key[1:]) for key, _ in store.kv.iterate_prefix(b"\x0a")] == stale_left


def _reachable(store, root):
    seen = set()

    def walk(ref, depth, path):
        key = ref[32:40] + node_key(0, depth, path, STATE_TREE_RADIX_BITS)[8:]
        seen.add(key)
        if ref[40] == 0:
            for digit_value, child in decode_internal(store.get_node(key), STATE_TREE_RADIX_BITS).items():
                walk(child, depth + 1, _with_digit(path, depth, digit_value, STATE_TREE_RADIX_BITS))

    if root is not None:
        walk(root, 0, bytes(32))
    return seen


def test_a_data_folder_of_the_old_state_scheme_refuses_to_open(tmp_path):
    store = open_block_store(tmp_path / "data")
    store.commit_genesis(GENESIS, {}, genesis_tree({}))
    store.kv.delete(b"\x00state_scheme")
    store.close()
    with pytest.raises(CodedError) as refused:
        open_block_store(tmp_path / "data")
    assert refused.value.code == "storage.old_state_scheme" and "resync" in refused.value.message


def test_a_transaction_is_read_without_decoding_its_block(store, monkeypatch):
    """tx_get answers on the event loop: one transaction, its result and its
    block's header are read, never the whole block (20 ms or so when full)."""
    filled(store)
    monkeypatch.setattr("storage.blockstore.decode_block", lambda *args: pytest.fail("the whole block was decoded"))
    monkeypatch.setattr(store, "results", lambda height: pytest.fail("every result was decoded"))
    block = CHAIN[2][0]
    found = store.transaction(hashlib.sha256(block.txs[-1]).hexdigest())
    assert (found.raw, found.result, found.block_hash) == (block.txs[-1], results_for(block)[-1], block.hash())
