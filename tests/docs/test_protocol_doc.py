"""docs/protocol.md and the code agree: every vector, every parameter."""
import json
import re
from pathlib import Path

import pytest

from chain.genesis import DEFAULT_PARAMS, genesis_from_document
from chain.state_tree import STATE_TREE_RADIX_BITS, StateProof, StateProofError, key_path, verify_proof
from chain.transaction import decode_transaction
from chain.validators import ValidatorSet
from chain.votes import decode_certificate, verify_certificate
from tests.docs.protocol_vectors import CHAIN_ID, compute_vectors

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
VECTOR_BLOCK = re.compile(r"```json vector:(?P<name>[a-z_]+)\n(?P<body>.*?)\n```", re.S)
DOC_VECTORS = {match["name"]: json.loads(match["body"]) for match in VECTOR_BLOCK.finditer(DOC)}
CODE_VECTORS = compute_vectors()


def test_document_carries_every_vector():
    assert sorted(DOC_VECTORS) == sorted(CODE_VECTORS)


@pytest.mark.parametrize("name", sorted(CODE_VECTORS))
def test_vector_in_document_matches_code(name):
    assert DOC_VECTORS[name] == CODE_VECTORS[name]


def test_documented_transaction_decodes_and_verifies():
    vector = DOC_VECTORS["transaction"]
    tx = decode_transaction(bytes.fromhex(vector["tx"]), CHAIN_ID)
    assert tx.id == vector["id"] and tx.body == vector["body"]


def test_documented_certificate_verifies_for_documented_header():
    certificate = decode_certificate(bytes.fromhex(DOC_VECTORS["certificate"]["bytes"]), 4)
    validators = ValidatorSet.of(bytes.fromhex(key) for key in DOC_VECTORS["certificate"]["validators"])
    header_hash = bytes.fromhex(DOC_VECTORS["header"]["hash"])
    verify_certificate(certificate, validators, CHAIN_ID, 1, header_hash)


def test_documented_genesis_hash():
    vector = DOC_VECTORS["genesis"]
    assert genesis_from_document(vector["document"]).hash.hex() == vector["hash"]


@pytest.mark.parametrize("name", sorted(DEFAULT_PARAMS))
def test_every_genesis_parameter_is_documented(name):
    assert f"| `{name}` |" in DOC


def test_documented_state_proofs_check_against_the_documented_root():
    vector = DOC_VECTORS["state_tree"]
    root = bytes.fromhex(vector["state_root"])
    for item in vector["proofs"]:
        path = key_path(bytes.fromhex(item["key"]))
        claimed = None if item["value"] is None else bytes.fromhex(item["value"])
        proof = StateProof.decode(bytes.fromhex(item["proof"]), STATE_TREE_RADIX_BITS)
        verify_proof(root, path, claimed, proof, STATE_TREE_RADIX_BITS)
        with pytest.raises(StateProofError):
            verify_proof(root, path, b"another value", proof, STATE_TREE_RADIX_BITS)
