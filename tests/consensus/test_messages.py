"""Encode/decode of every consensus message and every rejection path."""
import pytest
from hypothesis import example, given, settings, strategies as st

from chain.encoding import pack
from chain.errors import CodedError
from chain.keys import KeyPair
from chain.votes import sign_vote
from consensus.messages import (
    ConsensusError, Evidence, PreparedCertificate, decode_evidence, decode_message, encode_message,
    new_view_bytes_max, sign_new_view, sign_proposal, sign_view_change, verify_evidence,
)
from tests.consensus.harness import CHAIN, ZERO, make_keys, stub_block
from chain.validators import ValidatorSet

KEYS = make_keys(4)
VALS = ValidatorSet.of(k.public_key for k in KEYS)
STRANGER = KeyPair(b"\x77" * 32)


def block(h=1, proposer=None, tag=b""):
    return stub_block(h, ZERO, 1000, proposer or VALS.primary(h, 0), tag=tag)


def prepared(h, v, b, signers=KEYS[:3]):
    sigs = tuple((k.public_key, sign_vote(k, CHAIN, "prepare", h, v, b.hash()).signature) for k in signers)
    return PreparedCertificate(h, v, b.hash(), sigs)


def roundtrip(m):
    assert decode_message(encode_message(m), 4, 1 << 20) == m


def test_roundtrip_every_kind():
    b = block()
    p = sign_proposal(KEYS[1], CHAIN, 1, 0, b)
    roundtrip(p)
    roundtrip(sign_vote(KEYS[0], CHAIN, "prepare", 1, 0, b.hash()))
    roundtrip(sign_vote(KEYS[0], CHAIN, "commit", 1, 0, b.hash()))
    vc = sign_view_change(KEYS[0], CHAIN, 1, 1, prepared(1, 0, b), b)
    roundtrip(vc)
    roundtrip(sign_view_change(KEYS[0], CHAIN, 1, 1, None, None))
    vcs = tuple(sign_view_change(k, CHAIN, 1, 1, prepared(1, 0, b), b) for k in KEYS[:3])
    nv = sign_new_view(KEYS[2], CHAIN, 1, 1, vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, b))
    roundtrip(nv)
    nv.verify(VALS, CHAIN)
    e = Evidence.of(sign_vote(KEYS[0], CHAIN, "prepare", 1, 0, b"\1" * 32), sign_vote(KEYS[0], CHAIN, "prepare", 1, 0, b"\2" * 32))
    roundtrip(e)
    assert decode_evidence(e.encode()) == e


@given(st.binary(max_size=300))
def test_decoding_garbage_raises_only_coded_errors(raw):
    try:
        decode_message(raw, 4, 1 << 20)
    except CodedError:
        pass


@pytest.mark.parametrize("value", [
    ["vote"], ["nope", []], ["vote", ["prepare", 1, 0, b"x", b"k", b"s"]], ["vote", ["other", 1, 0, ZERO, ZERO, b"\0" * 64]],
    ["proposal", [1, 0, [{}, [], []], ZERO, b"\0" * 64, b"\0" * 64]], ["view-change", [1, 1, [1, 0, ZERO, []], [], ZERO, b"\0" * 64]],
    ["vote", ["prepare", -1, 0, ZERO, ZERO, b"\0" * 64]],
])
def test_malformed_rejected(value):
    with pytest.raises(ConsensusError):
        decode_message(pack(value), 4, 1 << 20)


def test_too_many_votes_rejected_before_signatures():
    b = block()
    cert = prepared(1, 0, b, KEYS * 2)
    vc = sign_view_change(KEYS[0], CHAIN, 1, 1, cert, b)
    with pytest.raises(ConsensusError) as e:
        decode_message(encode_message(vc), 4, 1 << 20)
    assert e.value.code == "consensus.too_many_votes"


def test_proposal_rejections():
    b = block()
    with pytest.raises(ConsensusError, match="not_primary"):
        sign_proposal(KEYS[0], CHAIN, 1, 0, b).verify(VALS, CHAIN)
    with pytest.raises(ConsensusError, match="not_primary"):
        sign_proposal(STRANGER, CHAIN, 1, 0, b).verify(VALS, CHAIN)
    p = sign_proposal(KEYS[1], CHAIN, 1, 0, b)
    with pytest.raises(ConsensusError, match="bad_signature"):
        type(p)(1, 0, b, p.signer, b"\0" * 64, p.prepare_signature).verify(VALS, CHAIN)
    with pytest.raises(ConsensusError, match="bad_signature"):
        type(p)(1, 0, b, p.signer, p.signature, b"\0" * 64).verify(VALS, CHAIN)
    with pytest.raises(ConsensusError, match="bad_block"):
        type(p)(2, 0, b, KEYS[2].public_key, p.signature, p.signature).verify(VALS, CHAIN)  # block of height 1


def test_prepared_certificate_rejections():
    b = block()
    with pytest.raises(ConsensusError, match="no_quorum"):
        prepared(1, 0, b, KEYS[:2]).verify(VALS, CHAIN)
    c = prepared(1, 0, b, KEYS[:2])
    dup = PreparedCertificate(1, 0, b.hash(), c.signatures + c.signatures[:1])
    with pytest.raises(ConsensusError, match="duplicate_signer"):
        dup.verify(VALS, CHAIN)
    with pytest.raises(ConsensusError, match="unknown_signer"):
        prepared(1, 0, b, KEYS[:2] + [STRANGER]).verify(VALS, CHAIN)
    commits = tuple((k.public_key, sign_vote(k, CHAIN, "commit", 1, 0, b.hash()).signature) for k in KEYS[:3])
    with pytest.raises(ConsensusError, match="bad_signature"):
        PreparedCertificate(1, 0, b.hash(), commits).verify(VALS, CHAIN)


def _nv(vcs, proposal, signer=KEYS[2], h=1, v=1):
    return sign_new_view(signer, CHAIN, h, v, tuple(vcs), proposal)


def test_new_view_rejections():
    b = block()
    fresh = stub_block(1, ZERO, 2000, KEYS[2].public_key, tag=b"fresh")
    prep_vcs = [sign_view_change(k, CHAIN, 1, 1, prepared(1, 0, b), b) for k in KEYS[:3]]
    empty_vcs = [sign_view_change(k, CHAIN, 1, 1, None, None) for k in KEYS[:3]]
    ok_fresh = _nv(empty_vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, fresh))
    ok_fresh.verify(VALS, CHAIN)
    cases = {
        "not_primary": _nv(empty_vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, fresh), signer=KEYS[3]),
        "no_quorum": _nv(empty_vcs[:2], sign_proposal(KEYS[2], CHAIN, 1, 1, fresh)),
        "duplicate_signer": _nv(empty_vcs[:2] + empty_vcs[:1], sign_proposal(KEYS[2], CHAIN, 1, 1, fresh)),
        "unknown_signer": _nv(empty_vcs[:2] + [sign_view_change(STRANGER, CHAIN, 1, 1, None, None)], sign_proposal(KEYS[2], CHAIN, 1, 1, fresh)),
        "bad_new_view": _nv(empty_vcs[:2] + [sign_view_change(KEYS[3], CHAIN, 1, 2, None, None)], sign_proposal(KEYS[2], CHAIN, 1, 1, fresh)),
        # wrong choice: something was prepared, but a fresh block is proposed
        "bad_new_view ": _nv(prep_vcs[:1] + empty_vcs[1:], sign_proposal(KEYS[2], CHAIN, 1, 1, fresh)),
        # nothing prepared, but the block is not the new primary's own
        "bad_new_view  ": _nv(empty_vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, b)),
        # prepared certificate not below the new view
        "bad_prepared": _nv([sign_view_change(k, CHAIN, 1, 1, prepared(1, 1, b), b) for k in KEYS[:3]], sign_proposal(KEYS[2], CHAIN, 1, 1, b)),
    }
    for code, nv in cases.items():
        with pytest.raises(ConsensusError) as e:
            nv.verify(VALS, CHAIN)
        assert e.value.code == "consensus." + code.strip(), code
    _nv(prep_vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, b)).verify(VALS, CHAIN)


def test_new_view_picks_the_highest_prepared_view():
    b0, b1 = block(), stub_block(1, ZERO, 1500, KEYS[2].public_key, tag=b"v1")
    vcs = [sign_view_change(KEYS[0], CHAIN, 1, 2, prepared(1, 0, b0), b0),
           sign_view_change(KEYS[1], CHAIN, 1, 2, prepared(1, 1, b1), b1),
           sign_view_change(KEYS[2], CHAIN, 1, 2, None, None)]
    with pytest.raises(ConsensusError, match="bad_new_view"):
        _nv(vcs, sign_proposal(KEYS[3], CHAIN, 1, 2, b0), signer=KEYS[3], v=2).verify(VALS, CHAIN)
    _nv(vcs, sign_proposal(KEYS[3], CHAIN, 1, 2, b1), signer=KEYS[3], v=2).verify(VALS, CHAIN)


def test_a_new_view_re_proposing_a_full_block_carries_it_once_and_fits_a_frame():
    """With a block copy in each of its view changes, a NEW-VIEW over a full
    block (4 MiB of transactions) passed the default 16 MiB frame at n = 4."""
    full = stub_block(1, ZERO, 1000, VALS.primary(1, 0), txs=[bytes([i]) * 65_536 for i in range(64)])
    vcs = sorted((sign_view_change(k, CHAIN, 1, 1, prepared(1, 0, full), full) for k in KEYS[:3]),
                 key=lambda vc: VALS.index_of(vc.validator))
    nv = _nv(vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, full))
    raw = encode_message(nv)
    assert len(raw) < len(full.encode()) + 8192 < 16 * 1024 * 1024
    decoded = decode_message(raw, 4, 16 * 1024 * 1024)
    assert decoded == nv and all(vc.block is None for vc in decoded.view_changes)
    decoded.verify(VALS, CHAIN)


@settings(max_examples=25)
@given(st.lists(st.one_of(st.integers(0, 300), st.integers(65_536, 65_600)), max_size=30), st.integers(1, 7))
@example(sizes=[1] * 5_000, validators=4)        # the genesis block_txs_max of the smallest transactions
def test_no_new_view_is_larger_than_the_bound_the_node_sizes_its_frame_by(sizes, validators):
    """Every validator's view change with a prepared certificate of every
    validator's signature, and a proposal of any block within the caps."""
    keys = make_keys(validators)
    vals = ValidatorSet.of(k.public_key for k in keys)
    full = stub_block(1, ZERO, 1000, vals.primary(1, 0), txs=[bytes([i % 256]) * size for i, size in enumerate(sizes)])
    certificate = prepared(1, 0, full, keys)
    vcs = [sign_view_change(k, CHAIN, 1, 1, certificate, full) for k in keys]
    primary = next(k for k in keys if k.public_key == vals.primary(1, 1))
    nv = sign_new_view(primary, CHAIN, 1, 1, tuple(vcs), sign_proposal(primary, CHAIN, 1, 1, full))
    assert len(encode_message(nv)) <= new_view_bytes_max(sum(sizes), len(sizes), validators)


def test_a_view_change_inside_a_new_view_with_its_block_is_malformed():
    b = block()
    vcs = [sign_view_change(k, CHAIN, 1, 1, prepared(1, 0, b), b) for k in KEYS[:3]]
    nv = _nv(vcs, sign_proposal(KEYS[2], CHAIN, 1, 1, b))
    body = nv.to_list()
    body[2] = [vc.to_list() for vc in vcs]                   # blocks put back in
    with pytest.raises(ConsensusError) as refused:
        decode_message(pack(["new-view", body]), 4, 1 << 20)
    assert refused.value.code == "consensus.malformed"


def test_evidence_rules():
    a = sign_vote(KEYS[0], CHAIN, "prepare", 5, 0, b"\1" * 32)
    b = sign_vote(KEYS[0], CHAIN, "prepare", 5, 0, b"\2" * 32)
    e = Evidence.of(b, a)
    assert e.first == a and e.id == Evidence.of(a, b).id
    verify_evidence(e, VALS, CHAIN, committed_height=4, max_age=10)
    with pytest.raises(ConsensusError, match="evidence_out_of_range"):
        verify_evidence(e, VALS, CHAIN, committed_height=3, max_age=10)   # height not reached yet
    with pytest.raises(ConsensusError, match="evidence_out_of_range"):
        verify_evidence(e, VALS, CHAIN, committed_height=100, max_age=10)  # too old
    s1, s2 = sign_vote(STRANGER, CHAIN, "prepare", 5, 0, b"\1" * 32), sign_vote(STRANGER, CHAIN, "prepare", 5, 0, b"\2" * 32)
    with pytest.raises(ConsensusError, match="unknown_signer"):
        verify_evidence(Evidence.of(s1, s2), VALS, CHAIN, 4, 10)
    c = sign_vote(KEYS[0], CHAIN, "commit", 5, 0, b"\2" * 32)
    with pytest.raises(ConsensusError, match="bad_evidence"):
        verify_evidence(Evidence.of(a, c), VALS, CHAIN, 4, 10)
    forged = Evidence(a, type(b)(b.phase, b.height, b.view, b.block_hash, b.validator, a.signature))
    with pytest.raises(ConsensusError, match="bad_signature"):
        verify_evidence(forged, VALS, CHAIN, 4, 10)
    with pytest.raises(ConsensusError, match="bad_evidence"):
        decode_evidence(Evidence(b, a).encode())  # not in canonical order
