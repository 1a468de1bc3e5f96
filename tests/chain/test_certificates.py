"""Commit certificates and the quorum arithmetic behind them."""
import itertools

import pytest

from chain.errors import CertificateError
from chain.validators import ValidatorSet, max_faulty, quorum_size, weak_quorum_size
from chain.votes import CommitCertificate, decode_certificate, sign_vote, verify_certificate
from tests.factories import CHAIN_ID, seeded_key, validator_keys

KEYS = validator_keys(4)
VALIDATORS = ValidatorSet.of(key.public_key for key in KEYS)
BLOCK_HASH = b"\x42" * 32
HEIGHT, VIEW = 9, 1


def certificate(signers=KEYS[:3], chain_id=CHAIN_ID, phase="commit", height=HEIGHT, view=VIEW, block_hash=BLOCK_HASH):
    votes = [sign_vote(key, chain_id, phase, height, view, block_hash) for key in signers]
    return CommitCertificate(HEIGHT, VIEW, BLOCK_HASH, tuple((v.validator, v.signature) for v in votes))


def refusal(cert, validators=VALIDATORS, **expected) -> str:
    with pytest.raises(CertificateError) as error:
        verify_certificate(cert, validators, CHAIN_ID, **expected)
    return error.value.code


@pytest.mark.parametrize("n", [1, 4, 7])
def test_a_quorum_of_commits_is_accepted(n):
    keys = validator_keys(n)
    validators = ValidatorSet.of(key.public_key for key in keys)
    votes = [sign_vote(key, CHAIN_ID, "commit", HEIGHT, VIEW, BLOCK_HASH) for key in keys[:validators.quorum]]
    cert = CommitCertificate.from_votes(reversed(votes), validators)
    assert [validator for validator, _ in cert.signatures] == [key.public_key for key in keys[:validators.quorum]]
    verify_certificate(cert, validators, CHAIN_ID, HEIGHT, BLOCK_HASH)


def test_fewer_than_a_quorum():
    assert refusal(certificate(KEYS[:2])) == "cert.no_quorum"


def test_duplicate_signers_count_once():
    cert = certificate(KEYS[:2])
    padded = CommitCertificate(HEIGHT, VIEW, BLOCK_HASH, cert.signatures + cert.signatures[:1])
    assert refusal(padded) == "cert.duplicate_signer"


def test_unknown_signer():
    assert refusal(certificate(KEYS[:2] + [seeded_key("stranger")])) == "cert.unknown_signer"


def test_more_votes_than_validators_is_refused_before_any_check():
    cert = certificate(KEYS)
    padded = CommitCertificate(HEIGHT, VIEW, BLOCK_HASH, cert.signatures + ((b"\x00" * 32, b"\x00" * 64),))
    assert refusal(padded) == "cert.too_many_votes"


@pytest.mark.parametrize("change", [
    {"chain_id": "another-chain"}, {"phase": "prepare"}, {"height": HEIGHT + 1}, {"view": VIEW + 1}, {"block_hash": b"\x43" * 32},
])
def test_signatures_over_anything_else_are_refused(change):
    assert refusal(certificate(**change)) == "cert.bad_signature"


def test_certificate_for_another_height_or_block_is_a_mismatch():
    assert refusal(certificate(), height=HEIGHT + 1) == "cert.mismatch"
    assert refusal(certificate(), block_hash=b"\x00" * 32) == "cert.mismatch"


def test_encode_decode_round_trip_and_malformed_encodings():
    cert = certificate()
    assert decode_certificate(cert.encode(), 4) == cert
    for bad in (b"\xc1", cert.encode()[:-1]):
        with pytest.raises(CertificateError) as error:
            decode_certificate(bad, 4)
        assert error.value.code == "cert.malformed"
    with pytest.raises(CertificateError) as too_many:
        decode_certificate(certificate(KEYS).encode(), 3)
    assert too_many.value.code == "cert.too_many_votes"


def test_from_votes_refuses_mixed_votes():
    votes = [sign_vote(KEYS[0], CHAIN_ID, "commit", 1, 0, BLOCK_HASH), sign_vote(KEYS[1], CHAIN_ID, "prepare", 1, 0, BLOCK_HASH)]
    with pytest.raises(ValueError):
        CommitCertificate.from_votes(votes, VALIDATORS)


def smallest_overlap_of_two_quorums(n: int, q: int) -> int:
    """By brute force over every pair of q-subsets for small n; for larger n
    over the pair that spreads two quorums furthest apart (the first q and
    the last q validators), whose overlap is the least any pair can have."""
    members = range(n)
    if n <= 9:
        subsets = [set(c) for c in itertools.combinations(members, q)]
        return min(len(a & b) for a in subsets for b in subsets)
    return len(set(members[:q]) & set(members[n - q:]))


@pytest.mark.parametrize("n", range(1, 41))
def test_quorum_arithmetic_against_brute_force(n):
    f, q = max_faulty(n), quorum_size(n)
    assert 3 * f + 1 <= n < 3 * (f + 1) + 1  # f is the most faults n tolerates
    assert smallest_overlap_of_two_quorums(n, q) >= f + 1  # two quorums share an honest validator
    assert q <= n - f  # the honest validators alone form a quorum
    assert weak_quorum_size(n) == f + 1


def test_n_four_specifically():
    validators = ValidatorSet.of(key.public_key for key in KEYS)
    assert (validators.f, validators.quorum, validators.weak_quorum) == (1, 3, 2)


def test_primary_rotates_with_height_and_view():
    assert [VALIDATORS.primary(h, v) for h, v in [(1, 0), (2, 0), (1, 1), (4, 3)]] == [
        KEYS[1].public_key, KEYS[2].public_key, KEYS[2].public_key, KEYS[3].public_key]


def test_validator_set_refuses_duplicates_and_empty():
    with pytest.raises(ValueError):
        ValidatorSet.of([KEYS[0].public_key, KEYS[0].public_key])
    with pytest.raises(ValueError):
        ValidatorSet.of([])
