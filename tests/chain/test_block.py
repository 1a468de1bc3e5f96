"""Headers and blocks: strict maps, versions, body checks, round trips."""
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.encoding import pack
from chain.errors import BlockError
from chain.hashing import sha256
from chain.block import HEADER_FIELDS, Block, Header, decode_block, decode_header, stored_header
from chain.validators import ValidatorSet
from chain.merkle import merkle_root
from tests.factories import make_block, validator_keys

VALIDATORS = ValidatorSet.of(k.public_key for k in validator_keys(4))
BLOCK = make_block(1, bytes(32), VALIDATORS, [b"tx one", b"tx two", b"tx three"])
BLOCK = Block(Header(**{**BLOCK.header.to_map(), "evidence_root": merkle_root([b"ev"])}), BLOCK.txs, (b"ev",))
MAP = BLOCK.header.to_map()


def header_code(value):
    with pytest.raises(BlockError) as caught:
        Header.from_map(value)
    return caught.value.code


def block_code(raw):
    with pytest.raises(BlockError) as caught:
        decode_block(raw, 1 << 20)
    return caught.value.code


def test_round_trips():
    assert decode_block(BLOCK.encode(), 1 << 20) == BLOCK
    assert decode_header(BLOCK.header.encode()) == BLOCK.header
    assert Header.from_map(MAP) == BLOCK.header
    assert BLOCK.hash() == BLOCK.header.hash() != make_block(2, bytes(32), VALIDATORS, []).hash()


@given(height=st.integers(1, 2**40), txs=st.lists(st.binary(min_size=1, max_size=300), max_size=40))
def test_a_stored_blocks_header_reads_alone_as_the_whole_decode_gives_it(height, txs):
    block = make_block(height, bytes(32), VALIDATORS, txs)
    assert stored_header(block.encode()) == decode_block(block.encode(), 1 << 20).header == block.header


@pytest.mark.parametrize("name", HEADER_FIELDS)
def test_missing_field(name):
    assert header_code({k: v for k, v in MAP.items() if k != name}) == "block.malformed_header"


@pytest.mark.parametrize("name", HEADER_FIELDS)
def test_mistyped_field(name):
    wrong = "x" if not isinstance(MAP[name], str) else b"x"
    assert header_code({**MAP, name: wrong}) == "block.malformed_header"


@pytest.mark.parametrize("change", [
    {"extra": 1}, {"height": 0}, {"height": True}, {"tx_count": -1}, {"prev_hash": bytes(31)},
    {"proposer": bytes(33)}, {"state_root": bytes(33)},
])
def test_malformed_header(change):
    assert header_code({**MAP, **change}) == "block.malformed_header"


def test_header_must_be_a_map():
    assert header_code([MAP]) == "block.malformed_header"


def test_bad_version():
    assert header_code({**MAP, "version": 2}) == "block.bad_version"
    assert block_code(pack([{**MAP, "version": 2}, list(BLOCK.txs), list(BLOCK.evidence)])) == "block.bad_version"


def test_decode_header_non_canonical():
    with pytest.raises(BlockError) as caught:
        decode_header(BLOCK.header.encode() + b"\x00")
    assert caught.value.code == "block.malformed_header"


@pytest.mark.parametrize("txs, evidence, expected", [
    ([b"tx one", b"tx two"], [b"ev"], "block.bad_tx_count"),
    ([b"tx one", b"tx two", b"tx one", b"tx four"], [b"ev"], "block.bad_tx_count"),
    ([b"tx one", b"tx three", b"tx two"], [b"ev"], "block.bad_tx_root"),
    ([b"tx one", b"tx two", b"tx 3"], [b"ev"], "block.bad_tx_root"),
    ([b"tx one", b"tx two", b"tx three"], [], "block.bad_evidence_root"),
    ([b"tx one", b"tx two", b"tx three"], [b"ev2"], "block.bad_evidence_root"),
])
def test_body_must_match_header(txs, evidence, expected):
    assert block_code(pack([MAP, txs, evidence])) == expected


@pytest.mark.parametrize("raw", [
    b"\xc1", pack([MAP, list(BLOCK.txs)]), pack([MAP, list(BLOCK.txs), list(BLOCK.evidence), []]),
    pack([MAP, ["tx"], []]), pack([MAP, list(BLOCK.txs), {}]), pack({"header": MAP}),
])
def test_malformed_block(raw):
    assert block_code(raw) == "block.malformed"


def test_size_cap():
    raw = BLOCK.encode()
    with pytest.raises(BlockError) as caught:
        decode_block(raw, len(raw) - 1)
    assert caught.value.code == "block.malformed"


def test_the_remembered_hash_is_the_hash_of_the_fields_and_no_field_of_its_own():
    header = decode_header(BLOCK.header.encode())
    assert header.hash() == sha256(header.encode()) == header.hash()
    moved = dataclasses.replace(header, height=header.height + 1)
    assert moved.hash() == sha256(moved.encode()) != header.hash()
    assert set(header.to_map()) == set(HEADER_FIELDS) and "_hash" not in HEADER_FIELDS
    assert header == decode_header(header.encode()) and hash(header) == hash(decode_header(header.encode()))
