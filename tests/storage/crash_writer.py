"""Child process of the crash test: commits blocks to a real LevelDB home in
a loop and prints each height only after ``commit`` returned.

Usage: python -m tests.storage.crash_writer DATA_DIR
Each block h carries TXS_PER_BLOCK signed transactions and writes the state
keys b"height/<h>" (the block's hash) and b"last" (h), and deletes
b"height/<h-2>", so a reader can check the state against the blocks, and
updates the state tree with it.
"""
from __future__ import annotations

import hashlib
import sys

from chain.results import TxResult
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, state_changes
from chain.transaction import build_transaction
from chain.validators import ValidatorSet
from storage.blockstore import open_block_store
from tests.factories import CHAIN_ID, certify, genesis_tree, make_block, seeded_key, validator_keys

TXS_PER_BLOCK = 40
PROOF_WINDOW_BLOCKS = 6
TREE_MEMORY_BYTES = 2_000
KEYS = validator_keys(4)
VALIDATORS = ValidatorSet.of(key.public_key for key in KEYS)
SENDER = seeded_key("crash sender")
GENESIS_HASH = hashlib.sha256(b"crash genesis").digest()


def write_set_for(height: int, block_hash_hint: bytes) -> dict[bytes, bytes | None]:
    writes: dict[bytes, bytes | None] = {b"height/%d" % height: block_hash_hint, b"last": height.to_bytes(8, "big")}
    if height > 2:
        writes[b"height/%d" % (height - 2)] = None
    return writes


def block_at(height: int, prev_hash: bytes):
    first_nonce = (height - 1) * TXS_PER_BLOCK + 1
    txs = [
        build_transaction(SENDER, CHAIN_ID, nonce, "funds.transfer", {"to": KEYS[0].address, "amount": nonce}).raw
        for nonce in range(first_nonce, first_nonce + TXS_PER_BLOCK)
    ]
    return make_block(height, prev_hash, VALIDATORS, txs)


def open_store(data_dir: str):
    """A small proof window and memory budget, so that kills land in promotions and spills of the state tree too."""
    return open_block_store(data_dir, PROOF_WINDOW_BLOCKS, TREE_MEMORY_BYTES)


def main(data_dir: str) -> None:
    store = open_store(data_dir)
    if store.genesis_hash() is None:
        store.commit_genesis(GENESIS_HASH, {b"genesis": b"1"}, genesis_tree({b"genesis": b"1"}))
    tree = StateTree(store, STATE_TREE_RADIX_BITS)
    while True:
        height = store.last_height() + 1
        block = block_at(height, store.last_block_hash())
        write_set = write_set_for(height, block.hash())
        update = tree.update(store.tree_root(height - 1), state_changes(write_set), height)
        store.commit(block, certify(block, KEYS, VALIDATORS), [TxResult(True)] * len(block.txs), write_set, update)
        print(height, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
