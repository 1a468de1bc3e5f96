"""The test vectors of docs/protocol.md, computed from the code.

`python -m tests.docs.protocol_vectors` prints them as the JSON blocks the
document carries; tests/docs/test_protocol_doc.py checks that the document
and the code agree, so neither can drift.
"""
from __future__ import annotations

import json
from typing import Any

from chain.block import Header
from chain.constants import HEADER_VERSION
from chain.encoding import pack
from chain.genesis import genesis_from_document
from chain.hashing import sha256
from chain.keys import KeyPair
from chain.merkle import inclusion_proof, merkle_root
from chain.results import TxResult, results_root
from chain.state_tree import STATE_TREE_RADIX_BITS, MemoryStateTree, StateTree, key_path, value_hash
from chain.transaction import build_transaction
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate, sign_vote

CHAIN_ID = "shopchain-docs"
ACCOUNT_SEED = sha256(b"shopchain docs account")
VALIDATOR_SEEDS = [sha256(f"shopchain docs validator {i}".encode()) for i in range(4)]


def _hex(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {key: _hex(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hex(item) for item in value]
    return value


def compute_vectors() -> dict[str, dict[str, Any]]:
    account = KeyPair(ACCOUNT_SEED)
    validators = [KeyPair(seed) for seed in VALIDATOR_SEEDS]
    validator_set = ValidatorSet.of(key.public_key for key in validators)
    genesis = genesis_from_document({
        "chain_id": CHAIN_ID,
        "genesis_time_ms": 1767225600000,
        "validators": [key.address for key in validators],
        "admins": [account.address],
        "treasury": validators[0].address,
        "allocations": [{"address": account.address, "amount": 10**15}],
    })
    body = {"to": validators[1].address, "amount": 2**53 + 1, "asset": "SHC"}
    tx = build_transaction(account, CHAIN_ID, 1, "funds.transfer", body)
    result = TxResult(True, "", (
        {"type": "funds.transferred", "from": account.address, "to": validators[1].address, "amount": 2**53 + 1, "asset": "SHC"},
    ))
    state = {b"balance/a": pack(5), b"balance/b": pack(7), b"nonce/a": pack(1)}
    tree = MemoryStateTree()
    state_root = tree.commit(state)
    reader = StateTree(tree.nodes, STATE_TREE_RADIX_BITS)
    proofs = {key: reader.prove(tree.root, key_path(key)) for key in (b"balance/a", b"balance/c")}
    header = Header(
        version=HEADER_VERSION, chain_id=CHAIN_ID, height=1, prev_hash=genesis.hash, time_ms=1767225601000,
        proposer=validator_set.primary(1, 0), tx_count=1, tx_root=merkle_root([tx.raw]),
        results_root=results_root([result]), evidence_root=merkle_root([]), state_root=state_root,
        validators_hash=validator_set.hash(), next_validators_hash=validator_set.hash(),
    )
    votes = [sign_vote(key, CHAIN_ID, "commit", 1, 0, header.hash()) for key in validators[:3]]
    certificate = CommitCertificate.from_votes(votes, validator_set)
    leaves = [b"leaf-0", b"leaf-1", b"leaf-2"]
    return {
        "transaction": {
            "seed": ACCOUNT_SEED.hex(), "public_key": account.address, "chain_id": CHAIN_ID, "nonce": 1,
            "kind": "funds.transfer", "body": body, "signing_bytes": tx.signing_bytes.hex(),
            "signature": tx.signature.hex(), "tx": tx.raw.hex(), "id": tx.id,
        },
        "genesis": {"document": genesis.document, "hash": genesis.hash.hex()},
        "state_tree": {
            "state": [[key.hex(), value.hex()] for key, value in sorted(state.items())],
            "paths": {key.hex(): key_path(key).hex() for key in sorted(state)},
            "value_hashes": {key.hex(): value_hash(value).hex() for key, value in sorted(state.items())},
            "state_root": state_root.hex(),
            "proofs": [{"key": key.hex(), "value": None if found is None else found.hex(),
                        "proof": proof.encode(STATE_TREE_RADIX_BITS).hex()}
                       for key, (found, proof) in proofs.items()],
        },
        "result": {"leaf": result.leaf_bytes().hex(), "results_root": header.results_root.hex()},
        "header": {"fields": _hex(header.to_map()), "bytes": header.encode().hex(), "hash": header.hash().hex()},
        "vote": {
            "validator_seed": VALIDATOR_SEEDS[0].hex(), "validator": validators[0].address,
            "signing_bytes": ("shopchain/vote/v1\x00".encode() + pack([CHAIN_ID, "commit", 1, 0, header.hash()])).hex(),
            "signature": votes[0].signature.hex(),
        },
        "certificate": {
            "validators": [key.address for key in validators], "validators_hash": validator_set.hash().hex(),
            "bytes": certificate.encode().hex(),
        },
        "merkle": {
            "leaves_utf8": [leaf.decode() for leaf in leaves], "root": merkle_root(leaves).hex(),
            "proof_index": 2, "proof_path": [node.hex() for node in inclusion_proof(leaves, 2)],
        },
    }


if __name__ == "__main__":
    for name, vector in compute_vectors().items():
        print(f"### {name}\n\n```json vector:{name}\n{json.dumps(vector, indent=1, ensure_ascii=False)}\n```\n")
