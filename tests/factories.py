"""Real, signed test data: validator keys and certified chains of blocks."""
from __future__ import annotations

import hashlib

from chain.block import Block, Header
from chain.constants import HEADER_VERSION
from chain.keys import KeyPair
from chain.merkle import merkle_root
from chain.results import TxResult, results_root
from chain.state_tree import STATE_TREE_RADIX_BITS, MemoryNodes, StateTree, TreeUpdate, state_changes
from chain.transaction import build_transaction
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate, sign_vote

CHAIN_ID = "shopchain-test"


def seeded_key(label: str) -> KeyPair:
    return KeyPair(hashlib.sha256(label.encode()).digest())


def validator_keys(count: int) -> list[KeyPair]:
    return [seeded_key(f"validator {i}") for i in range(count)]


def make_block(height: int, prev_hash: bytes, validators: ValidatorSet, txs: list[bytes],
               chain_id: str = CHAIN_ID, time_ms: int | None = None) -> Block:
    results = [TxResult(True)] * len(txs)
    header = Header(
        version=HEADER_VERSION, chain_id=chain_id, height=height, prev_hash=prev_hash,
        time_ms=time_ms if time_ms is not None else 1_767_225_600_000 + height * 1000,
        proposer=validators.primary(height, 0), tx_count=len(txs), tx_root=merkle_root(txs),
        results_root=results_root(results), evidence_root=merkle_root([]),
        state_root=hashlib.sha256(b"state %d" % height).digest(),
        validators_hash=validators.hash(), next_validators_hash=validators.hash(),
    )
    return Block(header, tuple(txs), ())


def certify(block: Block, keys: list[KeyPair], validators: ValidatorSet, chain_id: str = CHAIN_ID,
            signers: int | None = None) -> CommitCertificate:
    count = signers if signers is not None else validators.quorum
    votes = [sign_vote(key, chain_id, "commit", block.height, 0, block.hash()) for key in keys[:count]]
    return CommitCertificate.from_votes(votes, validators)


def certified_chain(length: int, keys: list[KeyPair], txs_per_block: int = 2, chain_id: str = CHAIN_ID,
                    genesis_hash: bytes = bytes(32)) -> list[tuple[Block, CommitCertificate]]:
    validators = ValidatorSet.of(key.public_key for key in keys)
    sender = seeded_key("sender")
    chain, prev_hash, nonce = [], genesis_hash, 0
    for height in range(1, length + 1):
        txs = []
        for _ in range(txs_per_block):
            nonce += 1
            txs.append(build_transaction(sender, chain_id, nonce, "funds.transfer", {"to": keys[0].address, "amount": nonce}).raw)
        block = make_block(height, prev_hash, validators, txs, chain_id)
        chain.append((block, certify(block, keys, validators, chain_id)))
        prev_hash = block.hash()
    return chain


def genesis_tree(write_set: dict[bytes, bytes | None]) -> TreeUpdate:
    """Version 0 of the state tree over a genesis write-set, for stores built by hand."""
    return StateTree(MemoryNodes(), STATE_TREE_RADIX_BITS).update(None, state_changes(write_set), 0)

