"""Committing blocks to a real LevelDB home.

Each run commits one new block: 1,000 signed transactions, a 3-of-4
certificate, 1,000 results and a write-set of 3,000 state keys (each
transfer touches two balances and a nonce), in one synced batch. And a
long chain of empty blocks through the node's application (proof window
100, batches not synced so the run is short): the mean commit over the
first and the last 5,000 heights of 20,000, which pruning must keep level.
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

from bench.timing import Measurement
from chain.genesis import genesis_from_document
from chain.keys import KeyPair
from chain.results import TxResult
from chain.transaction import build_transaction
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate, sign_vote
from node.application import ChainApplication
from storage.blockstore import open_block_store
from tests.factories import certify, genesis_tree, make_block, validator_keys

TXS_PER_BLOCK = 1_000
RUNS = 7
CHAIN_ID = "shopchain-bench"


def _keys(count: int, label: str) -> list[KeyPair]:
    return [KeyPair(hashlib.sha256(f"{label} {i}".encode()).digest()) for i in range(count)]


def _block_parts(height: int, prev_hash: bytes, validators: list[KeyPair], senders: list[KeyPair]):

    validator_set = ValidatorSet.of(key.public_key for key in validators)
    txs = [
        build_transaction(sender, CHAIN_ID, height, "funds.transfer", {"to": validators[0].address, "amount": 5}).raw
        for sender in senders
    ]
    block = make_block(height, prev_hash, validator_set, txs, CHAIN_ID)
    votes = [sign_vote(key, CHAIN_ID, "commit", height, 0, block.hash()) for key in validators[:3]]
    results = [TxResult(True, "", "", ({"type": "funds.transferred", "amount": 5},))] * len(txs)
    write_set: dict[bytes, bytes | None] = {}
    for index, sender in enumerate(senders):
        write_set[b"balance/" + sender.public_key] = (10**9 - height * 5).to_bytes(8, "big")
        write_set[b"nonce/" + sender.public_key] = height.to_bytes(8, "big")
        write_set[b"balance/r%d" % index] = (height * 5).to_bytes(8, "big")
    return block, CommitCertificate.from_votes(votes, validator_set), results, write_set


def run() -> list[Measurement]:
    validators, senders = _keys(4, "bench validator"), _keys(TXS_PER_BLOCK, "bench sender")
    with tempfile.TemporaryDirectory() as scratch:
        store = open_block_store(Path(scratch) / "data")
        store.commit_genesis(hashlib.sha256(b"bench genesis").digest(), {}, genesis_tree({}))
        durations_us = []
        for height in range(1, RUNS + 1):
            parts = _block_parts(height, store.last_block_hash(), validators, senders)
            start_ns = time.perf_counter_ns()
            store.commit(*parts)
            durations_us.append((time.perf_counter_ns() - start_ns) / 1000)
        store.close()
    return [Measurement(f"commit block of {TXS_PER_BLOCK} txs (LevelDB, synced)", durations_us), *_long_chain()]


def _long_chain(heights: int = 20_000, stretch: int = 5_000) -> list[Measurement]:
    keys = validator_keys(4)
    genesis = genesis_from_document({
        "chain_id": CHAIN_ID, "genesis_time_ms": 1_767_225_600_000, "validators": [key.address for key in keys],
        "admins": [keys[0].address], "treasury": keys[1].address, "allocations": []})
    means_us: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        store = open_block_store(Path(scratch) / "data")
        commit_batches = store.kv.write_batch
        store.kv.write_batch = lambda sync=False: commit_batches(False)
        app = ChainApplication(store, genesis)
        started_ns = time.perf_counter_ns()
        for height in range(1, heights + 1):
            block = app.build_block(height, store.last_block_hash(), genesis.genesis_time_ms + height, keys[0].public_key,
                                    (), [])
            app.persist_block(block, certify(block, keys, genesis.validators, CHAIN_ID))
            if height in (stretch, heights):
                means_us[f"heights {height - stretch + 1:,}-{height:,}"] = (time.perf_counter_ns() - started_ns) / stretch / 1000
            if height in (stretch, heights - stretch):
                started_ns = time.perf_counter_ns()
        store.close()
    return [Measurement(f"commit empty block, mean over {name} (LevelDB, window 100)", [mean_us])
            for name, mean_us in means_us.items()]
