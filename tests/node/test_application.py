"""The consensus application: blocks built by one node validate and commit
identically on another; every bad block is refused; divergence halts."""
import dataclasses
import hashlib
import random

import pytest

from chain.block import Block
from chain.constants import EVIDENCE_BYTES_MAX, EVIDENCE_PER_BLOCK_MAX
from chain.genesis import genesis_from_document
from chain.keys import SignatureVerifier
from chain.merkle import merkle_root
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, key_path, ref_hash, verify_proof
from chain.transaction import TransactionDecoder, build_transaction
from chain.votes import sign_vote
from commerce.executor import get_nonce
from consensus.messages import Evidence
from node.application import ChainApplication, StateDivergence
from node.mempool import Mempool, MempoolLimits
from node.workload import build_workload, make_world
from storage.blockstore import BlockStore, open_block_store
from storage.memory import MemoryStore
from tests.factories import certify, seeded_key, validator_keys

KEYS = validator_keys(4)
ADMIN, ALICE = seeded_key("admin"), seeded_key("alice")
GENESIS = genesis_from_document({
    "chain_id": "shopchain-app", "genesis_time_ms": 1_767_225_600_000,
    "validators": [key.address for key in KEYS], "admins": [ADMIN.address], "treasury": seeded_key("treasury").address,
    "allocations": [{"address": ADMIN.address, "amount": 10**12}],
})
T0 = GENESIS.genesis_time_ms


def node() -> tuple[ChainApplication, Mempool]:
    store = BlockStore(MemoryStore())
    verifier = SignatureVerifier(1_000)
    mempool = Mempool(MempoolLimits(), lambda sender: get_nonce(store.state(), sender), lambda: 64 * 1024,
                      TransactionDecoder(GENESIS.chain_id, verifier))
    return ChainApplication(store, GENESIS, verifier), mempool


def build(app: ChainApplication, mempool: Mempool):
    txs = mempool.reap(app.param("block_txs_max"), app.param("block_bytes_max"))
    return app.build_block(1, app.store.last_block_hash(), T0 + 1000, KEYS[1].public_key, (), txs)


def tx(key, nonce, kind="funds.transfer", **body):
    body = body or {"to": ALICE.address, "amount": 5}
    return build_transaction(key, GENESIS.chain_id, nonce, kind, body)


def commit(app, block):
    return app.persist_block(block, certify(block, KEYS, GENESIS.validators, GENESIS.chain_id))


def test_block_built_on_one_node_validates_and_commits_identically_on_another():
    (proposer, pool), (follower, _) = node(), node()
    for nonce in (1, 2):
        pool.add_raw(tx(ADMIN, nonce).raw)
    block = build(proposer, pool)
    assert block.header.tx_count == 2
    assert follower.validate_block(block)
    commit(proposer, block)
    committed = commit(follower, block)
    assert proposer.store.last_state_root() == follower.store.last_state_root() == block.header.state_root
    assert [result.ok for result in committed.execution.results] == [True, True]


def test_a_block_of_known_transactions_is_not_decoded_again():
    (proposer, pool), (follower, _) = node(), node()
    pool.add_raw(tx(ADMIN, 1).raw)
    block = build(proposer, pool)
    known = pool.pending(tx(ADMIN, 1).id)
    assert follower.validate_block(block, lambda tx_id: known if tx_id == known.id else None)
    assert commit(follower, block).txs[0] is known


def test_empty_block_when_the_mempool_is_empty():
    app, pool = node()
    block = build(app, pool)
    assert block.txs == () and app.validate_block(block)


def tampered(block: Block, **changes) -> Block:
    return Block(dataclasses.replace(block.header, **changes), block.txs, block.evidence)


def test_every_bad_block_is_refused():
    (proposer, pool), (follower, _) = node(), node()
    pool.add_raw(tx(ADMIN, 1).raw)
    good = build(proposer, pool)
    bad_signature = bytearray(good.txs[0])
    bad_signature[-1] ^= 1
    wrong_nonce = tx(ADMIN, 2).raw
    refused = [
        tampered(good, state_root=b"\x00" * 32),
        tampered(good, results_root=b"\x00" * 32),
        tampered(good, prev_hash=b"\x00" * 32),
        tampered(good, height=2),
        tampered(good, chain_id="another"),
        tampered(good, validators_hash=b"\x00" * 32),
        Block(dataclasses.replace(good.header, tx_root=merkle_root([bytes(bad_signature)])), (bytes(bad_signature),), ()),
        Block(dataclasses.replace(good.header, tx_root=merkle_root([wrong_nonce])), (wrong_nonce,), ()),
        Block(dataclasses.replace(good.header, evidence_root=merkle_root([b"junk"])), good.txs, (b"junk",)),
    ]
    assert [follower.validate_block(block) for block in refused] == [False] * len(refused)
    assert follower.validate_block(good)


def test_certified_block_that_executes_differently_halts():
    (proposer, pool), (follower, _) = node(), node()
    pool.add_raw(tx(ADMIN, 1).raw)
    block = build(proposer, pool)
    forged = tampered(block, state_root=hashlib.sha256(b"elsewhere").digest())
    with pytest.raises(StateDivergence):
        commit(follower, forged)
    assert follower.store.last_height() == 0


def test_a_store_from_another_genesis_is_refused():
    app, _ = node()
    other = genesis_from_document({**GENESIS.document, "chain_id": "another-chain"})
    with pytest.raises(StateDivergence):
        ChainApplication(app.store, other)


def test_the_leveldb_store_and_its_memory_twin_reach_the_same_state_tree_block_by_block(tmp_path):
    """The commerce workload's history, committed through the application on
    both stores: identical state roots, tree roots and proofs at every kept
    height (a window of 3, so pruning runs on both)."""
    world = make_world(4, 40)
    workload = build_workload(world, 60, random.Random(3))
    mix = workload.mix(60)
    blocks = workload.history + [mix[i:i + 20] for i in range(0, 60, 20)]
    stores = [BlockStore(MemoryStore(), proof_window_blocks=3), open_block_store(tmp_path / "data", 3)]
    apps = [ChainApplication(store, world.genesis) for store in stores]
    try:
        for height, txs in enumerate(blocks, start=1):
            built = apps[0].build_block(height, stores[0].last_block_hash(), world.genesis.genesis_time_ms + height,
                                        world.validator_keys[0].public_key, (), txs)
            certificate = certify(built, list(world.validator_keys), world.genesis.validators, world.genesis.chain_id)
            for app in apps:
                app.persist_block(built, certificate)
            assert stores[0].tree_root(height) == stores[1].tree_root(height)
            assert ref_hash(stores[1].tree_root(height)) == built.header.state_root
        keys = [key for key, _ in stores[0].kv.iterate_prefix(b"\x06")][:50]
        for height in range(len(blocks) - 2, len(blocks) + 1):
            for store in stores:
                tree, root = StateTree(store, STATE_TREE_RADIX_BITS), store.tree_root(height)
                for stored_key in keys:
                    path = key_path(stored_key[1:])
                    value, proof = tree.prove(root, path)
                    verify_proof(ref_hash(root), path, value, proof, STATE_TREE_RADIX_BITS)
        assert ({key for key, _ in stores[0].kv.iterate_prefix(b"\x08")}
                == {key for key, _ in stores[1].kv.iterate_prefix(b"\x08")})
    finally:
        for store in stores:
            store.close()


def _evidence(view: int) -> bytes:
    """Validator 0's two PREPAREs at height 1, view ``view``, for different blocks."""
    votes = [sign_vote(KEYS[0], GENESIS.chain_id, "prepare", 1, view, hashlib.sha256(name).digest()) for name in (b"a", b"b")]
    return Evidence.of(*votes).encode()


@pytest.mark.parametrize("records, code", [
    ([_evidence(view) for view in range(EVIDENCE_PER_BLOCK_MAX + 1)], "block.too_much_evidence"),
    ([_evidence(0), _evidence(0)], "block.duplicate_evidence"),
], ids=["one record past the cap", "one record twice"])
def test_a_block_with_evidence_past_the_cap_or_twice_is_refused(records, code):
    """Each record is valid: without the cap a primary could fill a block with
    evidence beyond what a certified block may encode to (so nobody could take
    it by sync) and make every validator check two signatures a record."""
    (proposer, _), (follower, _) = node(), node()
    block = proposer.build_block(1, proposer.store.last_block_hash(), T0 + 1000, KEYS[1].public_key, tuple(records), [])
    assert not follower.validate_block(block)
    with pytest.raises(StateDivergence, match=code):
        commit(follower, block)
    within = proposer.build_block(1, proposer.store.last_block_hash(), T0 + 1000, KEYS[1].public_key,
                                  tuple(dict.fromkeys(records))[:EVIDENCE_PER_BLOCK_MAX], [])
    assert follower.validate_block(within)


def test_the_largest_evidence_record_encodes_to_the_bound():
    largest = [sign_vote(KEYS[0], GENESIS.chain_id, "prepare", 2**64 - 1, 2**64 - 1, bytes([fill]) * 32) for fill in (0, 255)]
    assert len(Evidence.of(*largest).encode()) == EVIDENCE_BYTES_MAX
