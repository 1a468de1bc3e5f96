"""Headers, block bodies and the chained state root."""
import dataclasses
import hashlib

import pytest

from chain.block import HEADER_FIELDS, Block, decode_block, decode_header
from chain.encoding import pack
from chain.errors import BlockError
from chain.merkle import merkle_root
from chain.state_root import GENESIS_PREDECESSOR, next_state_root
from chain.validators import ValidatorSet
from tests.factories import make_block, validator_keys

VALIDATORS = ValidatorSet.of(key.public_key for key in validator_keys(4))
BLOCK = make_block(3, b"\x01" * 32, VALIDATORS, [b"tx one", b"tx two"])


def test_block_round_trip():
    assert decode_block(BLOCK.encode(), 1 << 20) == BLOCK
    assert decode_header(BLOCK.header.encode()) == BLOCK.header
    assert BLOCK.hash() == hashlib.sha256(pack(BLOCK.header.to_map())).digest()
    assert list(BLOCK.header.to_map()) == list(HEADER_FIELDS) and len(HEADER_FIELDS) == 13


def header_code(mapping) -> str:
    with pytest.raises(BlockError) as error:
        decode_header(pack(mapping))
    return error.value.code


@pytest.mark.parametrize("change, code", [
    ({"extra": 1}, "block.malformed_header"),
    ({"height": 0}, "block.malformed_header"),
    ({"height": "3"}, "block.malformed_header"),
    ({"tx_root": b"\x00" * 31}, "block.malformed_header"),
    ({"proposer": "ab" * 32}, "block.malformed_header"),
    ({"chain_id": b"shop"}, "block.malformed_header"),
    ({"version": 2}, "block.bad_version"),
])
def test_header_refusals(change, code):
    assert header_code({**BLOCK.header.to_map(), **change}) == code


def test_missing_header_field():
    mapping = BLOCK.header.to_map()
    del mapping["state_root"]
    assert header_code(mapping) == "block.malformed_header"


def block_code(block: Block) -> str:
    with pytest.raises(BlockError) as error:
        decode_block(block.encode(), 1 << 20)
    return error.value.code


def test_body_must_match_the_header():
    assert block_code(Block(BLOCK.header, BLOCK.txs[:1], ())) == "block.bad_tx_count"
    assert block_code(Block(BLOCK.header, (b"tx one", b"tx 2!!"), ())) == "block.bad_tx_root"
    assert block_code(Block(BLOCK.header, BLOCK.txs, (b"evidence",))) == "block.bad_evidence_root"
    with_evidence = Block(dataclasses.replace(BLOCK.header, evidence_root=merkle_root([b"evidence"])), BLOCK.txs, (b"evidence",))
    assert decode_block(with_evidence.encode(), 1 << 20) == with_evidence


@pytest.mark.parametrize("raw", [b"\xc1", pack([1, 2]), pack([BLOCK.header.to_map(), [1], []])])
def test_malformed_blocks(raw):
    with pytest.raises(BlockError) as error:
        decode_block(raw, 1 << 20)
    assert error.value.code in ("block.malformed", "block.malformed_header")


def test_block_size_cap():
    raw = BLOCK.encode()
    with pytest.raises(BlockError) as error:
        decode_block(raw, len(raw) - 1)
    assert error.value.code == "block.malformed" and "encoding.too_large" in error.value.message


def test_state_root_by_hand():
    write_set = {b"b": b"2", b"a": b"1", b"\x00z": None}
    pairs = pack([[b"\x00z", b""], [b"a", b"1"], [b"b", b"2"]])
    expected = hashlib.sha256(bytes(32) + hashlib.sha256(pairs).digest()).digest()
    assert GENESIS_PREDECESSOR == bytes(32)
    assert next_state_root(GENESIS_PREDECESSOR, write_set) == expected
    assert next_state_root(expected, {}) == hashlib.sha256(expected + hashlib.sha256(pack([])).digest()).digest()


def test_state_root_depends_on_history():
    first = next_state_root(GENESIS_PREDECESSOR, {b"a": b"1"})
    assert next_state_root(first, {b"b": b"2"}) != next_state_root(GENESIS_PREDECESSOR, {b"b": b"2"})
