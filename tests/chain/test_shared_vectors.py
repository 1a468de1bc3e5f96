"""Every vector of the design (tests/vectors/design/) agrees with the code."""
import pytest

from chain.block import Header
from chain.encoding import pack, unpack
from chain.errors import DecodeError
from chain.keys import KeyPair
from chain.merkle import inclusion_proof, merkle_root, verify_inclusion
from chain.results import TxResult, results_root
from chain.transaction import build_transaction, decode_transaction
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate, verify_certificate, vote_signing_bytes
from tests.helpers import from_json_body, load_shared_vector

TRANSACTIONS = load_shared_vector("transactions.json")["vectors"]
MERKLE = load_shared_vector("merkle.json")["vectors"]
BLOCKS = load_shared_vector("blocks.json")
NONCANONICAL = load_shared_vector("noncanonical.json")


@pytest.mark.parametrize("vector", TRANSACTIONS, ids=lambda v: v["kind"])
def test_transaction_vector_signs_to_the_same_bytes(vector):
    key = KeyPair(bytes.fromhex(vector["seed"]))
    assert key.address == vector["public_key"]
    tx = build_transaction(key, vector["chain_id"], vector["nonce"], vector["kind"], from_json_body(vector["body_json"]))
    assert tx.signing_bytes.hex() == vector["signing_bytes"]
    assert tx.signature.hex() == vector["signature"]
    assert tx.raw.hex() == vector["tx"]
    assert tx.id == vector["id"]


@pytest.mark.parametrize("vector", TRANSACTIONS, ids=lambda v: v["kind"])
def test_transaction_vector_decodes_and_verifies(vector):
    tx = decode_transaction(bytes.fromhex(vector["tx"]), vector["chain_id"])
    assert tx.nonce == vector["nonce"] and tx.kind == vector["kind"]
    assert tx.body == from_json_body(vector["body_json"])


@pytest.mark.parametrize("vector", MERKLE, ids=lambda v: f"{len(v['leaves_utf8'])}-leaves")
def test_merkle_vector(vector):
    leaves = [leaf.encode() for leaf in vector["leaves_utf8"]]
    assert merkle_root(leaves).hex() == vector["root"]
    if "proof_index" in vector:
        path = inclusion_proof(leaves, vector["proof_index"])
        assert [node.hex() for node in path] == vector["proof_path"]
        verify_inclusion(leaves[vector["proof_index"]], vector["proof_index"], len(leaves), path, bytes.fromhex(vector["root"]))


def _vector_header() -> Header:
    fields = {
        name: value if name == "chain_id" or not isinstance(value, str) else bytes.fromhex(value)
        for name, value in BLOCKS["header"].items()
    }
    return Header.from_map(fields)


def test_block_vector_header_bytes_and_hash():
    header = _vector_header()
    assert header.encode().hex() == BLOCKS["header_bytes"]
    assert header.hash().hex() == BLOCKS["block_hash"]


def test_block_vector_roots_and_validators_hash():
    txs = [bytes.fromhex(vector["tx"]) for vector in TRANSACTIONS]
    header = _vector_header()
    assert merkle_root(txs) == header.tx_root
    assert results_root([TxResult(True)] * len(txs)) == header.results_root
    assert merkle_root([]) == header.evidence_root
    validators = ValidatorSet.of(bytes.fromhex(key) for key in BLOCKS["validators"])
    assert validators.hash().hex() == BLOCKS["validators_hash"] == header.validators_hash.hex()


def test_certificate_vector_verifies():
    validators = ValidatorSet.of(bytes.fromhex(key) for key in BLOCKS["validators"])
    data = BLOCKS["certificate"]
    certificate = CommitCertificate(
        data["height"], data["view"], bytes.fromhex(data["block_hash"]),
        tuple((bytes.fromhex(v["validator"]), bytes.fromhex(v["signature"])) for v in data["votes"]),
    )
    chain_id = BLOCKS["header"]["chain_id"]
    for vote in data["votes"]:
        assert vote_signing_bytes(chain_id, "commit", data["height"], data["view"], certificate.block_hash).hex() == vote["signing_bytes"]
    verify_certificate(certificate, validators, chain_id, data["height"], bytes.fromhex(BLOCKS["block_hash"]))


def test_noncanonical_vector_canonical_form():
    assert pack({"b": 2, "a": 1}).hex() == NONCANONICAL["canonical"]
    assert unpack(bytes.fromhex(NONCANONICAL["canonical"])) == {"a": 1, "b": 2}


@pytest.mark.parametrize("name", sorted(NONCANONICAL["refuse"]))
def test_noncanonical_vector_is_refused(name):
    with pytest.raises(DecodeError):
        unpack(bytes.fromhex(NONCANONICAL["refuse"][name]))
