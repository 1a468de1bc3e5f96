"""Signed transactions: any change to the bytes is caught, every envelope
rule has its code, signatures never cross purposes."""
import hashlib

import pytest
from hypothesis import given, strategies as st

from chain.encoding import pack
from chain.errors import TransactionError
from chain.signing import DOMAIN_TAGS, sign_fields, signing_bytes, verify_fields
from chain.transaction import build_transaction, decode_transaction, parse_transaction
from tests.factories import seeded_key

CHAIN = "shopchain-test"
ALICE = seeded_key("alice")
TX = build_transaction(ALICE, CHAIN, 3, "order.create", {
    "merchant": seeded_key("merchant").address, "items": [{"sku": "tea", "qty": 2}], "shipping_hash": b"\x07" * 32,
})
BODIES = st.dictionaries(st.text(max_size=8), st.integers(0, 2**64 - 1) | st.text(max_size=20) | st.binary(max_size=40), max_size=6)


def envelope_code(raw: bytes, chain_id: str | None = CHAIN, **kwargs) -> str:
    with pytest.raises(TransactionError) as error:
        decode_transaction(raw, chain_id, **kwargs)
    return error.value.code


@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_flipping_any_byte_fails_decode_or_verify(position, mask):
    raw = bytearray(TX.raw)
    raw[position % len(raw)] ^= mask
    with pytest.raises(TransactionError):
        decode_transaction(bytes(raw), CHAIN)


@given(BODIES, st.integers(1, 2**64 - 1))
def test_signing_bytes_are_the_domain_and_the_unsigned_array(body, nonce):
    tx = build_transaction(ALICE, CHAIN, nonce, "funds.transfer", body)
    assert tx.signing_bytes == DOMAIN_TAGS["tx"] + pack([1, CHAIN, ALICE.public_key, nonce, "funds.transfer", body])
    assert tx.raw == pack([1, CHAIN, ALICE.public_key, nonce, "funds.transfer", body, tx.signature])
    assert tx.id == hashlib.sha256(tx.raw).hexdigest()
    assert decode_transaction(tx.raw, CHAIN) == tx


def test_another_chain_is_refused():
    assert envelope_code(TX.raw, "another-chain") == "tx.wrong_chain"


def test_a_signature_from_another_key_is_refused():
    forged = pack([1, CHAIN, ALICE.public_key, 3, "order.create", TX.body, seeded_key("mallory").sign(TX.signing_bytes)])
    assert envelope_code(forged) == "tx.bad_signature"


def unsigned_fields(**changes):
    fields = {"version": 1, "chain_id": CHAIN, "sender": ALICE.public_key, "nonce": 1, "kind": "funds.transfer", "body": {}}
    fields.update(changes)
    return list(fields.values())


def signed(**changes) -> bytes:
    fields = unsigned_fields(**changes)
    return pack(fields + [ALICE.sign(DOMAIN_TAGS["tx"] + pack(fields))])


@pytest.mark.parametrize("raw, code", [
    (signed(version=2), "tx.bad_version"),
    (signed(version=True), "tx.bad_version"),
    (signed(nonce=0), "tx.malformed"),
    (signed(kind="Order.Create"), "tx.malformed"),
    (signed(kind="order"), "tx.malformed"),
    (signed(body=[]), "tx.malformed"),
    (signed(sender=b"\x01" * 31), "tx.malformed"),
    (signed(chain_id=""), "tx.malformed"),
    (pack(unsigned_fields()), "tx.malformed"),
    (pack(unsigned_fields() + [b"\x00" * 64, 1]), "tx.malformed"),
    (pack(unsigned_fields() + [b"\x00" * 63]), "tx.malformed"),
    (pack({"tx": 1}), "tx.malformed"),
    (TX.raw + b"\x00", "tx.malformed"),
])
def test_envelope_rules(raw, code):
    assert envelope_code(raw) == code


def test_size_cap():
    assert envelope_code(TX.raw, max_bytes=len(TX.raw) - 1) == "tx.too_large"
    assert decode_transaction(TX.raw, CHAIN, max_bytes=len(TX.raw)) == TX


def test_parse_does_not_check_the_signature_but_decode_does():
    raw = bytearray(TX.raw)
    raw[-1] ^= 1
    assert parse_transaction(bytes(raw)).id != TX.id
    assert envelope_code(bytes(raw)) == "tx.bad_signature"


@pytest.mark.parametrize("purpose", sorted(DOMAIN_TAGS))
def test_signatures_never_verify_under_another_purpose(purpose):
    fields = [CHAIN, "commit", 5, 0, b"\x01" * 32]
    signature = sign_fields(ALICE, purpose, fields)
    assert verify_fields(ALICE.public_key, purpose, fields, signature)
    for other in DOMAIN_TAGS:
        if other != purpose:
            assert not verify_fields(ALICE.public_key, other, fields, signature)
    assert signing_bytes(purpose, fields).startswith(f"shopchain/{purpose}/v1\x00".encode())


def test_unknown_purpose_is_a_programming_error():
    with pytest.raises(ValueError):
        signing_bytes("payment", [])
