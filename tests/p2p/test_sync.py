"""Block sync: only certified blocks of our chain get through, in height order."""
import pytest
from hypothesis import example, given, strategies as st

from chain.encoding import pack
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate
from p2p.errors import PeerError
from p2p.sync import (
    RESPONSE_OVERHEAD_BYTES, BlockSyncer, CertifiedBlock, certified_block_bytes_max, decode_sync_request, decode_sync_response, encode_sync_request,
    encode_sync_response, verify_certified_block,
)
from tests.factories import CHAIN_ID, certified_chain, certify, make_block, validator_keys

KEYS = validator_keys(4)
VALIDATORS = ValidatorSet.of(key.public_key for key in KEYS)
CHAIN = certified_chain(6, KEYS)
BLOCK_MAX = 1 << 20
PEER_A, PEER_B, PEER_C = b"a" * 32, b"b" * 32, b"c" * 32

FRAME_BYTES_MAX = 16 * 1024 * 1024   # p2p.frame_bytes_max's default


def verify(block, certificate, validators=VALIDATORS, chain_id=CHAIN_ID):
    """Within a frame of BLOCK_MAX."""
    return verify_certified_block(block.encode(), certificate.encode(), validators, chain_id, BLOCK_MAX)


@given(st.lists(st.one_of(st.integers(0, 300), st.integers(65_536, 65_600)), max_size=40), st.integers(1, 16))
@example(sizes=[1] * 5_000, signers=4)      # the genesis block_txs_max of the smallest transactions
def test_one_certified_block_always_fits_the_frame_the_node_requires(sizes, signers):
    """certified_block_bytes_max bounds a block of any transactions (tiny ones
    cost their framing, large ones a longer header) with its certificate."""
    txs = [bytes([index % 256]) * size for index, size in enumerate(sizes)]
    keys = validator_keys(signers)
    validators = ValidatorSet.of(key.public_key for key in keys)
    block = make_block(1, bytes(32), validators, txs)
    certificate = certify(block, keys, validators, signers=len(keys))
    frame = certified_block_bytes_max(sum(map(len, txs)), len(txs), len(keys))
    payload = encode_sync_response([CertifiedBlock(block, certificate)], frame)
    assert len(payload) <= frame
    [(block_bytes, certificate_bytes)] = decode_sync_response(payload, frame, 16)
    assert verify_certified_block(block_bytes, certificate_bytes, validators, CHAIN_ID, frame).block == block


def test_request_round_trip_and_refusals():
    assert decode_sync_request(encode_sync_request(5, 16)) == (5, 16)
    assert decode_sync_request(encode_sync_request(5, 1000)) == (5, 1000)    # served up to the server's own batch
    for bad in (encode_sync_request(0, 1), encode_sync_request(1, 0), pack({"from": 1}), b"\xc1"):
        with pytest.raises(PeerError) as error:
            decode_sync_request(bad)
        assert error.value.code == "sync.bad_request"


def test_response_round_trip_verifies_every_block():
    blocks = [CertifiedBlock(block, cert) for block, cert in CHAIN[:3]]
    pairs = decode_sync_response(encode_sync_response(blocks, FRAME_BYTES_MAX), 1 << 22, 16)
    assert [verify_certified_block(b, c, VALIDATORS, CHAIN_ID, BLOCK_MAX) for b, c in pairs] == blocks


def test_a_response_stops_at_the_blocks_that_fit_one_frame_but_always_holds_one():
    """16 blocks of the genesis default 4 MiB would not fit one 16 MiB frame."""
    blocks = [CertifiedBlock(block, cert) for block, cert in CHAIN]
    whole = encode_sync_response(blocks, FRAME_BYTES_MAX)
    pair_bytes = [len(item.block.encode()) + len(item.certificate.encode()) for item in blocks]
    for kept in range(1, len(blocks) + 1):
        frame = RESPONSE_OVERHEAD_BYTES + sum(pair_bytes[:kept]) + 16 * kept
        payload = encode_sync_response(blocks, frame)
        assert len(payload) <= frame
        assert [verify_certified_block(b, c, VALIDATORS, CHAIN_ID, BLOCK_MAX) for b, c in
                decode_sync_response(payload, frame, 16)] == blocks[:kept]
    assert encode_sync_response(blocks, 1) == encode_sync_response(blocks[:1], FRAME_BYTES_MAX)
    assert len(decode_sync_response(whole, FRAME_BYTES_MAX, 16)) == len(blocks)


def test_a_run_shorter_than_asked_is_progress_not_a_strike_and_the_rest_is_asked_next():
    plan = syncer(batch=4)
    plan.on_peer_height(PEER_A, 6)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 4)]
    assert plan.on_response(PEER_A, [CertifiedBlock(b, c) for b, c in CHAIN[:2]])    # what fit one frame
    assert plan.strikes == {} and plan.peer_heights[PEER_A] == 6
    assert [item.height for item in plan.take_ready(0)] == [1, 2]
    assert plan.next_requests(2, 1) == [(PEER_A, 3, 4)]


def test_response_with_too_many_blocks_is_refused():
    blocks = [CertifiedBlock(block, cert) for block, cert in CHAIN]
    with pytest.raises(PeerError) as error:
        decode_sync_response(encode_sync_response(blocks, FRAME_BYTES_MAX), 1 << 22, 5)
    assert error.value.code == "sync.bad_response"


def tampered_cases():
    block, cert = CHAIN[2]
    other_block, other_cert = CHAIN[3]
    short = certify(block, KEYS, VALIDATORS, signers=2)
    foreign_keys = validator_keys(7)[3:]
    foreign_set = ValidatorSet.of(k.public_key for k in foreign_keys)
    foreign_block = make_block(3, block.header.prev_hash, foreign_set, list(block.txs))
    return {
        "certificate of another block": (block, other_cert),
        "below quorum": (block, short),
        "body swapped": (type(block)(block.header, other_block.txs, ()), cert),
        "another chain": (make_block(3, block.header.prev_hash, VALIDATORS, list(block.txs), chain_id="evil"), cert),
        "another validator set": (foreign_block, certify(foreign_block, foreign_keys, foreign_set)),
    }


@pytest.mark.parametrize("case", sorted(tampered_cases()))
def test_bad_synced_blocks_are_refused(case):
    block, certificate = tampered_cases()[case]
    with pytest.raises(PeerError) as error:
        verify(block, certificate)
    assert error.value.code == "sync.bad_block"


def test_prepare_votes_never_certify_a_synced_block():
    from chain.votes import sign_vote
    block, _ = CHAIN[0]
    votes = [sign_vote(key, CHAIN_ID, "prepare", 1, 0, block.hash()) for key in KEYS[:3]]
    fake = CommitCertificate(1, 0, block.hash(), tuple((v.validator, v.signature) for v in votes))
    with pytest.raises(PeerError):
        verify(block, fake)


def syncer(batch=2, window=6, timeout_ms=5000):
    return BlockSyncer(batch_blocks=batch, window_blocks=window, request_timeout_ms=timeout_ms)


def test_requests_split_the_proven_window_among_idle_peers():
    plan = syncer()
    plan.on_peer_height(PEER_A, 10)
    plan.on_peer_height(PEER_B, 3)
    plan.on_certified_height(3)
    assert plan.next_requests(0, now_ms=0) == [(PEER_A, 1, 2), (PEER_B, 3, 1)]
    assert plan.next_requests(0, now_ms=1) == []  # both busy


def test_out_of_order_responses_come_out_in_height_order():
    plan = syncer()
    plan.on_peer_height(PEER_A, 6)
    plan.on_peer_height(PEER_B, 6)
    plan.on_certified_height(6)
    (peer_1, start_1, _), (peer_2, start_2, _) = plan.next_requests(0, now_ms=0)
    items = [CertifiedBlock(b, c) for b, c in CHAIN]
    plan.on_response(peer_2, items[start_2 - 1:start_2 + 1])
    assert plan.take_ready(0) == []
    plan.on_response(peer_1, items[start_1 - 1:start_1 + 1])
    assert [item.height for item in plan.take_ready(0)] == [1, 2, 3, 4]


def test_failed_peer_range_is_asked_of_another_peer():
    plan = syncer(batch=3)
    plan.on_peer_height(PEER_A, 3)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 3)]
    plan.on_peer_height(PEER_B, 3)
    plan.on_peer_failed(PEER_A)
    assert plan.next_requests(0, 1) == [(PEER_B, 1, 3)]


def test_silent_peer_times_out_is_struck_and_another_peer_is_asked():
    plan = syncer(batch=3, timeout_ms=5000)
    plan.on_peer_height(PEER_A, 3)
    plan.on_peer_height(PEER_B, 3)
    first = plan.next_requests(0, 0)
    assert first == [(PEER_A, 1, 3)]
    assert plan.next_requests(0, 4000) == []
    assert plan.next_requests(0, 6000) == [(PEER_B, 1, 3)]
    assert plan.strikes == {PEER_A: 1}
    plan.on_peer_height(PEER_B, 6)
    assert plan.on_response(PEER_B, [CertifiedBlock(b, c) for b, c in CHAIN[:3]])
    assert plan.next_requests(3, 7000) == [(PEER_B, 4, 3)]   # the struck peer comes last
    assert plan.strikes == {PEER_A: 1}


def test_a_validator_keeps_its_strikes_across_a_reconnect_an_observer_does_not():
    plan = BlockSyncer(batch_blocks=3, window_blocks=6, request_timeout_ms=5000, validators=frozenset({PEER_A, PEER_C}))
    for peer in (PEER_A, PEER_B, PEER_C):
        plan.on_peer_height(peer, 3)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 3)]           # validators first
    assert plan.next_requests(0, 6000) == [(PEER_C, 1, 3)]        # A timed out: struck, C asked
    plan.strikes[PEER_B] = 1
    for peer in (PEER_A, PEER_B):                                  # both reconnect
        plan.on_peer_gone(peer)
        plan.on_peer_height(peer, 3)
    assert plan.strikes == {PEER_A: 1}
    plan.on_peer_gone(PEER_C)
    assert plan.next_requests(0, 6001) == [(PEER_B, 1, 3)]        # the struck validator is asked last


def test_a_peer_that_answers_short_of_its_claim_loses_the_claim_and_is_struck():
    plan = syncer(batch=3)
    plan.on_peer_height(PEER_A, 10**15)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 3)]
    assert not plan.on_response(PEER_A, [])
    assert plan.peer_heights[PEER_A] == 0 and plan.strikes == {PEER_A: 1}
    assert plan.next_requests(0, 1) == [] and not plan.has_work(0)
    assert not plan.on_response(PEER_A, [])        # an answer nobody asked for


def test_an_empty_answer_to_a_certified_height_waits_for_the_next_tick():
    plan = syncer(batch=3)
    plan.on_peer_height(PEER_A, 0)
    plan.on_certified_height(2)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 2)]
    assert not plan.on_response(PEER_A, [])
    assert plan.peer_heights[PEER_A] == 0 and plan.has_work(0)


def test_a_certified_height_no_peer_claims_is_asked_of_an_idle_peer():
    plan = syncer(batch=3)
    plan.on_peer_height(PEER_A, 0)
    assert plan.next_requests(0, 0) == []
    plan.on_certified_height(2)
    assert plan.has_work(0)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 2)]
    plan.on_response(PEER_A, [CertifiedBlock(b, c) for b, c in CHAIN[:2]])
    assert [item.height for item in plan.take_ready(0)] == [1, 2]
    assert not plan.has_work(2)


def test_blocks_outside_the_asked_range_are_ignored():
    plan = syncer(batch=2)
    plan.on_peer_height(PEER_A, 6)
    plan.next_requests(0, 0)
    items = [CertifiedBlock(b, c) for b, c in CHAIN]
    plan.on_response(PEER_A, items[4:6])
    assert plan.take_ready(4) == []


def test_an_answer_that_does_not_start_where_asked_keeps_nothing_and_the_range_goes_to_another_peer():
    """Blocks above the height asked, without it, would leave the range
    asked of the same peer again and again."""
    plan = syncer(batch=3)
    plan.on_peer_height(PEER_A, 6)
    plan.on_peer_height(PEER_B, 6)
    plan.on_certified_height(6)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 3), (PEER_B, 4, 3)]
    items = [CertifiedBlock(b, c) for b, c in CHAIN]
    assert not plan.on_response(PEER_A, items[1:3])           # heights 2 and 3, not 1
    assert plan.strikes == {PEER_A: 1} and plan.take_ready(0) == []
    assert plan.on_response(PEER_B, items[3:6])
    assert plan.next_requests(0, 1) == [(PEER_B, 1, 3)]
    assert plan.on_response(PEER_B, items[0:2] + items[3:4])    # a gap after 2: 1 and 2 kept
    assert [item.height for item in plan.take_ready(0)] == [1, 2]


@given(st.permutations(range(6)), st.integers(1, 3))
def test_any_arrival_order_gives_consecutive_heights(order, batch):
    plan = syncer(batch=batch, window=6)
    peers = [bytes([i]) * 32 for i in range(6)]
    for peer in peers:
        plan.on_peer_height(peer, 6)
    plan.on_certified_height(6)
    requests = plan.next_requests(0, 0)
    items = [CertifiedBlock(b, c) for b, c in CHAIN]
    taken = []
    by_start = {start: (peer, count) for peer, start, count in requests}
    starts = sorted(by_start)
    for position in order:
        if position < len(starts):
            peer, count = by_start[starts[position]]
            plan.on_response(peer, items[starts[position] - 1:starts[position] - 1 + count])
            taken += plan.take_ready(len(taken))
    assert [item.height for item in taken] == list(range(1, 7))


def test_claims_above_the_proven_height_get_one_probe_at_a_time():
    plan = syncer(batch=2, window=6)
    plan.on_peer_height(PEER_A, 10**15)
    plan.on_peer_height(PEER_B, 10**15)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 2)]     # not the whole window on a claim
    assert plan.next_requests(0, 1) == []                    # B idle, but a probe is out
    assert plan.on_response(PEER_A, [CertifiedBlock(b, c) for b, c in CHAIN[:2]])
    assert plan.certified_height == 2                        # what the verified answer proves
    assert [item.height for item in plan.take_ready(0)] == [1, 2]
    assert plan.next_requests(2, 2) == [(PEER_A, 3, 2)]


def test_a_silent_observer_claiming_a_huge_height_cannot_hold_sync():
    silent = bytes(32)                                       # ranks first by key
    plan = BlockSyncer(batch_blocks=2, window_blocks=6, request_timeout_ms=5000, validators=frozenset({PEER_A, PEER_B}))
    plan.on_peer_height(silent, 10**15)
    plan.on_peer_height(PEER_A, 6)
    plan.on_peer_height(PEER_B, 6)
    assert plan.next_requests(0, 0) == [(PEER_A, 1, 2)]     # validators first
    plan.on_certified_height(6)                              # consensus showed a certificate for 6
    assert plan.next_requests(0, 1) == [(PEER_B, 3, 2), (silent, 5, 2)]
    items = [CertifiedBlock(b, c) for b, c in CHAIN]
    plan.on_response(PEER_A, items[0:2])
    plan.on_response(PEER_B, items[2:4])
    assert [item.height for item in plan.take_ready(0)] == [1, 2, 3, 4]
    # the silent one timed out: struck, its range re-asked of a validator; above the proof only it claims more
    assert plan.next_requests(4, 6_000) == [(PEER_A, 5, 2), (silent, 7, 2)]
    assert plan.strikes == {silent: 1}
    plan.on_response(PEER_A, items[4:6])
    assert [item.height for item in plan.take_ready(4)] == [5, 6]
    assert plan.next_requests(6, 6_001) == []                # its probe is out; it holds nothing up
    plan.on_certified_height(8)                              # consensus moved on: 7 and 8 wait on the probe
    assert plan.next_requests(6, 6_002) == []
    assert plan.next_requests(6, 11_001) == [(PEER_A, 7, 2), (silent, 9, 2)]   # it times out: re-asked, it probes on
    assert plan.strikes == {silent: 2}


_PEERS = [bytes([i]) * 32 for i in range(2)]


@given(st.lists(st.tuples(st.sampled_from(["claim", "gone", "failed", "ask", "answer"]), st.integers(0, 1),
                          st.integers(0, 3)), max_size=40))
def test_the_best_claim_is_always_the_highest_claim_held(operations):
    """best_height is kept as claims change, not recounted: it must equal the
    recount after claims rise, peers leave and short answers lower a claim."""
    plan = syncer(batch=3)
    items = [CertifiedBlock(b, c) for b, c in CHAIN]
    for operation, index, height in operations:
        peer = _PEERS[index]
        if operation == "claim":
            plan.on_peer_height(peer, height)
        elif operation == "gone":
            plan.on_peer_gone(peer)
        elif operation == "failed":
            plan.on_peer_failed(peer)
        elif operation == "ask":
            plan.next_requests(0, height)
        else:
            plan.on_response(peer, items[:height])
        assert plan.best_height() == max(plan.peer_heights.values(), default=0)


def test_claims_change_only_through_the_syncer():
    """The kept best claim holds only if nothing else writes the claims."""
    plan = syncer()
    plan.on_peer_height(PEER_A, 9)
    with pytest.raises(TypeError):
        plan.peer_heights[PEER_A] = 2
    with pytest.raises(TypeError):
        BlockSyncer(batch_blocks=2, window_blocks=6, request_timeout_ms=5000, peer_heights={PEER_A: 9})
    assert plan.best_height() == 9
