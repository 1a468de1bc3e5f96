"""Serving and checking state proofs (docs/protocol.md sections 7 and 12).

A real LevelDB block store holds a genesis state of ``KEYS`` keys (its
tree written as the node writes it) and one certified block. Timed: the
node's side of ``state_proof`` for one key (read the tree's nodes, build
and encode the proof), per key; and the light client's check of a coupon
batch's answer (header, a 3-of-4 certificate, the batch's and the block
time's proofs: ``chain.light.verify_state``), CPU time in-process; and
what every getter pays to say where it read (the last block's header and
time), for a full block of 5,000 transactions: its header read alone
(``BlockStore.header``) beside the whole block decoded, as getters did.
"""
from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path

from bench.timing import Measurement, measure
from chain.block import Block
from chain.encoding import pack
from chain.genesis import genesis_from_document
from chain.light import Trust, verify_state
from chain.results import TxResult
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, key_path, state_changes
from commerce.keys import meta_key
from storage.blockstore import open_block_store
from tests.factories import certify, genesis_tree, make_block, validator_keys

KEYS = 300_000
TIME_KEY = meta_key("time_ms")
PROOFS = 2_000
CHECKS = 300
RUNS = 5
FULL_BLOCK_TXS = 5_000


def run() -> list[Measurement]:
    keys = validator_keys(4)
    genesis = genesis_from_document({
        "chain_id": "shopchain-bench", "genesis_time_ms": 1_767_225_600_000, "validators": [k.address for k in keys],
        "admins": [keys[0].address], "treasury": keys[1].address, "allocations": []})
    rng = random.Random(7)
    state = {b"c" + rng.randbytes(32): pack({"total": i, "sold_online": i // 2}) for i in range(KEYS)}
    with tempfile.TemporaryDirectory() as scratch:
        store = open_block_store(Path(scratch) / "data")
        store.commit_genesis(genesis.hash, state, genesis_tree(state))
        writes = {TIME_KEY: pack(1)}
        update = StateTree(store, STATE_TREE_RADIX_BITS).update(store.tree_root(0), state_changes(writes), 1)
        made = make_block(1, genesis.hash, genesis.validators, [], genesis.chain_id)
        block = Block(dataclasses.replace(made.header, state_root=update.root_hash), made.txs, made.evidence)
        store.commit(block, certify(block, keys, genesis.validators, genesis.chain_id), [], writes, update)
        tree, root = StateTree(store, STATE_TREE_RADIX_BITS), store.tree_root(1)
        asked = rng.sample(sorted(state), PROOFS)
        serve_us = []
        for _ in range(RUNS):
            started = time.perf_counter_ns()
            for key in asked:
                _, proof = tree.prove(root, key_path(key))
                proof.encode(STATE_TREE_RADIX_BITS).hex()
            serve_us.append((time.perf_counter_ns() - started) / len(asked) / 1000)
        batch_key = asked[0]
        answer = {"height": 1, "header_bytes": block.header.encode().hex(),
                  "certificate_bytes": store.certificate(1).encode().hex(), "proofs": []}
        for key in (batch_key, TIME_KEY):
            value, proof = tree.prove(root, key_path(key))
            answer["proofs"].append({"key": key.hex(), "value": value.hex(), "proof": proof.encode(STATE_TREE_RADIX_BITS).hex()})
        trust = Trust.from_genesis(genesis)
        check_us = []
        for _ in range(RUNS):
            started = time.process_time_ns()
            for _ in range(CHECKS):
                verify_state(trust, answer, [batch_key, TIME_KEY])
            check_us.append((time.process_time_ns() - started) / CHECKS / 1000)
        stamps = _height_stamps(store, genesis, keys, block)
        store.close()
    return [Measurement(f"state_proof served, per key ({KEYS:,} keys, LevelDB)", serve_us),
            Measurement("light client check of a coupon batch's answer (CPU)", check_us), *stamps]


def _height_stamps(store, genesis, keys, previous: Block) -> list[Measurement]:
    """Height 2 is a block of FULL_BLOCK_TXS transactions of 800 bytes each."""
    txs = [random.Random(index).randbytes(800) for index in range(FULL_BLOCK_TXS)]
    made = make_block(2, previous.hash(), genesis.validators, txs, genesis.chain_id)
    block = Block(dataclasses.replace(made.header, state_root=previous.header.state_root), made.txs, made.evidence)
    results = [TxResult(True, "", "")] * len(txs)
    store.commit(block, certify(block, keys, genesis.validators, genesis.chain_id), results, {})
    return [measure(f"a getter's height stamp, header alone ({FULL_BLOCK_TXS:,}-transaction block)",
                    lambda: store.header(2).time_ms, 200, RUNS),
            measure(f"a getter's height stamp, whole block decoded ({FULL_BLOCK_TXS:,}-transaction block)",
                    lambda: store.block_by_height(2).header.time_ms, 20, RUNS)]
