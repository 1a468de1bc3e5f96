"""Signed transaction envelopes: build, parse, verify, and tampering."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from chain.encoding import pack
from chain.errors import TransactionError
from chain.keys import verify_signature
from chain.signing import DOMAIN_TAGS, sign_fields, verify_fields
from chain.transaction import TX_DOMAIN, TransactionDecoder, build_transaction, decode_transaction
from tests.factories import CHAIN_ID, seeded_key

KEY = seeded_key("tx sender")
bodies = st.dictionaries(st.text(max_size=8), st.one_of(st.integers(0, 2**64 - 1), st.text(max_size=20), st.binary(max_size=20)), max_size=5)
TX = build_transaction(KEY, CHAIN_ID, 1, "funds.transfer", {"to": "x", "amount": 5})


def code(raw, **kw):
    with pytest.raises(TransactionError) as caught:
        decode_transaction(raw, **kw)
    return caught.value.code


def test_round_trip_and_id():
    tx = decode_transaction(TX.raw, CHAIN_ID)
    assert (tx.chain_id, tx.sender, tx.nonce, tx.kind, tx.body) == (CHAIN_ID, KEY.public_key, 1, "funds.transfer", {"to": "x", "amount": 5})
    assert tx.id == hashlib.sha256(TX.raw).hexdigest()
    assert tx.sender_address == KEY.address


@settings(max_examples=300)
@given(st.data())
def test_flipping_any_byte_never_passes(data):
    position = data.draw(st.integers(0, len(TX.raw) - 1))
    mask = data.draw(st.integers(1, 255))
    raw = bytearray(TX.raw)
    raw[position] ^= mask
    with pytest.raises(TransactionError):
        decode_transaction(bytes(raw), CHAIN_ID)


@given(bodies, st.integers(1, 2**64 - 1))
def test_signing_bytes_equal_domain_plus_unsigned_array(body, nonce):
    tx = build_transaction(KEY, CHAIN_ID, nonce, "order.create", body)
    assert tx.signing_bytes == TX_DOMAIN + pack([1, CHAIN_ID, KEY.public_key, nonce, "order.create", body])
    assert tx.id == hashlib.sha256(tx.raw).hexdigest()
    decode_transaction(tx.raw, CHAIN_ID)


def test_wrong_chain():
    assert code(TX.raw, chain_id="other-chain") == "tx.wrong_chain"


def test_wrong_version():
    items = [2, CHAIN_ID, KEY.public_key, 1, "funds.transfer", {}, bytes(64)]
    assert code(pack(items)) == "tx.bad_version"


@pytest.mark.parametrize("items", [
    [1, CHAIN_ID, KEY.public_key, 1, "funds.transfer", {}],
    [1, CHAIN_ID, KEY.public_key, 1, "funds.transfer", {}, bytes(64), 0],
    [1, CHAIN_ID, KEY.public_key, 0, "funds.transfer", {}, bytes(64)],
    [1, CHAIN_ID, KEY.public_key, 1, "Funds", {}, bytes(64)],
    [1, CHAIN_ID, KEY.public_key, 1, "funds.transfer", [], bytes(64)],
    [1, CHAIN_ID, KEY.public_key[:31], 1, "funds.transfer", {}, bytes(64)],
    [1, "", KEY.public_key, 1, "funds.transfer", {}, bytes(64)],
    [1, CHAIN_ID, KEY.public_key, "1", "funds.transfer", {}, bytes(64)],
    [1, CHAIN_ID, KEY.public_key, 1, "funds.transfer", {}, bytes(63)],
    {"a": 1},
])
def test_malformed(items):
    assert code(pack(items)) == "tx.malformed"


def test_too_large():
    tx = build_transaction(KEY, CHAIN_ID, 1, "funds.transfer", {"memo": "x" * 500})
    assert code(tx.raw, max_bytes=len(tx.raw) - 1) == "tx.too_large"
    decode_transaction(tx.raw, max_bytes=len(tx.raw))


def test_bad_signature():
    raw = TX.raw[:-1] + bytes([TX.raw[-1] ^ 1])
    assert code(raw) == "tx.bad_signature"


def test_signature_for_one_purpose_never_verifies_for_another():
    fields = [CHAIN_ID, "commit", 1, 0, bytes(32)]
    for purpose in DOMAIN_TAGS:
        signature = sign_fields(KEY, purpose, fields)
        for other in DOMAIN_TAGS:
            assert verify_fields(KEY.public_key, other, fields, signature) == (other == purpose)
    assert len(set(DOMAIN_TAGS.values())) == len(DOMAIN_TAGS)


class CountingVerify:
    def __init__(self):
        self.calls = 0

    def __call__(self, public_key, message, signature):
        self.calls += 1
        return verify_signature(public_key, message, signature)


def test_decoder_remembers_what_it_accepted_and_checks_it_once():
    verify = CountingVerify()
    decoder = TransactionDecoder(CHAIN_ID, verify, capacity=10)
    first = decoder(TX.raw, 64 * 1024)
    assert decoder(TX.raw, 64 * 1024) is first and verify.calls == 1
    assert first == decode_transaction(TX.raw, CHAIN_ID)


def test_decoder_refuses_remembered_bytes_over_a_lower_cap_and_forgets_refusals():
    verify = CountingVerify()
    decoder = TransactionDecoder(CHAIN_ID, verify, capacity=10)
    decoder(TX.raw, 64 * 1024)
    with pytest.raises(TransactionError) as caught:
        decoder(TX.raw, len(TX.raw) - 1)
    assert caught.value.code == "tx.too_large"
    forged = TX.raw[:-1] + bytes([TX.raw[-1] ^ 1])
    for _ in range(2):
        with pytest.raises(TransactionError) as caught:
            decoder(forged, 64 * 1024)
        assert caught.value.code == "tx.bad_signature"
    assert verify.calls == 3


def test_decoder_of_another_chain_refuses_and_a_full_decoder_starts_over():
    with pytest.raises(TransactionError) as caught:
        TransactionDecoder("another-chain")(TX.raw, 64 * 1024)
    assert caught.value.code == "tx.wrong_chain"
    verify = CountingVerify()
    decoder = TransactionDecoder(CHAIN_ID, verify, capacity=1)
    other = build_transaction(KEY, CHAIN_ID, 2, "funds.transfer", {"to": "x", "amount": 5})
    decoder(TX.raw, 64 * 1024)
    decoder(other.raw, 64 * 1024)      # full: forgets TX, remembers other
    decoder(other.raw, 64 * 1024)
    decoder(TX.raw, 64 * 1024)
    assert verify.calls == 3
