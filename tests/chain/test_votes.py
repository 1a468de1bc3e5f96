"""Commit certificates: every rejection with its code, and encodings."""
import pytest

from chain.encoding import pack
from chain.errors import CertificateError
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate, decode_certificate, sign_vote, verify_certificate
from tests.factories import CHAIN_ID, seeded_key, validator_keys

HASH = b"\x11" * 32


def setup(n):
    keys = validator_keys(n)
    return keys, ValidatorSet.of(k.public_key for k in keys)


def cert(keys, validators, count=None, chain_id=CHAIN_ID, phase="commit", height=5, view=2, block_hash=HASH):
    count = validators.quorum if count is None else count
    pairs = []
    for key in keys[:count]:
        vote = sign_vote(key, chain_id, phase, height, view, block_hash)
        pairs.append((vote.validator, vote.signature))
    return CommitCertificate(5, 2, HASH, tuple(pairs))


def code(certificate, validators, **kw):
    with pytest.raises(CertificateError) as caught:
        verify_certificate(certificate, validators, CHAIN_ID, **kw)
    return caught.value.code


@pytest.mark.parametrize("n", [1, 4, 7])
def test_quorum_accepted_and_one_less_refused(n):
    keys, validators = setup(n)
    verify_certificate(cert(keys, validators), validators, CHAIN_ID, height=5, block_hash=HASH)
    verify_certificate(cert(keys, validators, count=n), validators, CHAIN_ID)
    assert code(cert(keys, validators, count=validators.quorum - 1), validators) == "cert.no_quorum"


@pytest.mark.parametrize("n", [4, 7])
def test_duplicate_signer_does_not_count_twice(n):
    keys, validators = setup(n)
    good = cert(keys, validators, count=validators.quorum - 1)
    padded = CommitCertificate(5, 2, HASH, good.signatures + (good.signatures[0],))
    assert code(padded, validators) == "cert.duplicate_signer"


def test_unknown_signer():
    keys, validators = setup(4)
    stranger = seeded_key("stranger")
    good = cert(keys, validators, count=3)
    vote = sign_vote(stranger, CHAIN_ID, "commit", 5, 2, HASH)
    bad = CommitCertificate(5, 2, HASH, good.signatures[:2] + ((stranger.public_key, vote.signature),))
    assert code(bad, validators) == "cert.unknown_signer"


@pytest.mark.parametrize("change", [
    {"chain_id": "another-chain"}, {"phase": "prepare"}, {"height": 6}, {"view": 3}, {"block_hash": b"\x22" * 32},
])
def test_signature_over_anything_else_is_bad(change):
    keys, validators = setup(4)
    assert code(cert(keys, validators, **change), validators) == "cert.bad_signature"
    # one bad signature among good ones is enough
    good = cert(keys, validators, count=4)
    mixed = cert(keys, validators, count=4, **change)
    combined = CommitCertificate(5, 2, HASH, good.signatures[:3] + mixed.signatures[3:])
    assert code(combined, validators) == "cert.bad_signature"


def test_mismatch_with_expected_height_or_hash():
    keys, validators = setup(4)
    certificate = cert(keys, validators)
    assert code(certificate, validators, height=6) == "cert.mismatch"
    assert code(certificate, validators, block_hash=b"\x22" * 32) == "cert.mismatch"


def test_too_many_votes():
    keys, validators = setup(4)
    certificate = cert(keys, validators, count=4)
    padded = CommitCertificate(5, 2, HASH, certificate.signatures + (certificate.signatures[0],))
    assert code(padded, validators) == "cert.too_many_votes"
    with pytest.raises(CertificateError) as caught:
        decode_certificate(padded.encode(), max_votes=4)
    assert caught.value.code == "cert.too_many_votes"


def test_from_votes_orders_by_set_and_round_trips():
    keys, validators = setup(7)
    votes = [sign_vote(k, CHAIN_ID, "commit", 5, 2, HASH) for k in reversed(keys[:5])]
    certificate = CommitCertificate.from_votes(votes, validators)
    assert [v for v, _ in certificate.signatures] == [k.public_key for k in keys[:5]]
    decoded = decode_certificate(certificate.encode(), max_votes=7)
    assert decoded == certificate
    verify_certificate(decoded, validators, CHAIN_ID)
    with pytest.raises(ValueError):
        CommitCertificate.from_votes(votes + [sign_vote(keys[5], CHAIN_ID, "prepare", 5, 2, HASH)], validators)


GOOD = {"height": 1, "view": 0, "block_hash": HASH, "votes": [[b"\x01" * 32, b"\x02" * 64]]}


@pytest.mark.parametrize("raw", [
    b"\xc1", pack([1]), pack({**GOOD, "extra": 1}), pack({k: v for k, v in GOOD.items() if k != "view"}),
    pack({**GOOD, "height": -1}), pack({**GOOD, "view": "0"}), pack({**GOOD, "block_hash": b"\x01" * 31}),
    pack({**GOOD, "votes": {}}), pack({**GOOD, "votes": [[b"\x01" * 32]]}), pack({**GOOD, "votes": [[b"\x01" * 31, b"\x02" * 64]]}),
    pack({**GOOD, "votes": [[b"\x01" * 32, b"\x02" * 63]]}), pack({**GOOD, "height": True}),
])
def test_malformed_encodings(raw):
    with pytest.raises(CertificateError) as caught:
        decode_certificate(raw, max_votes=4)
    assert caught.value.code == "cert.malformed"
    assert decode_certificate(pack(GOOD), max_votes=4).height == 1
