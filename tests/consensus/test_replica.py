"""Replica behaviour beyond the transcripts: restart safety, rejection paths, evidence, sync."""
from chain.votes import CommitCertificate, Vote, sign_vote
from consensus.actions import Broadcast, BuildProposal, Execute, PersistSignState, RequestSync
from consensus.messages import Evidence, ViewChange, decode_message, encode_message, sign_proposal
from consensus.sign_state import SignState
from tests.consensus.harness import CHAIN, ZERO, Network, stub_block


def sent(net, i):
    return net.nodes[i].signed


def votes_of(net, i, phase, height, view):
    return {m.block_hash for m in sent(net, i) if isinstance(m, Vote) and (m.phase, m.height, m.view) == (phase, height, view)}


def test_restart_between_persist_and_send_never_signs_a_conflicting_vote():
    net = Network(4)
    net.command("start")
    byz = net.keys[1]  # primary of (1, 0), equivocating
    a = stub_block(1, ZERO, 10, byz.public_key, tag=b"A")
    b = stub_block(1, ZERO, 10, byz.public_key, tag=b"B")
    net.nodes[0].crash_after_persist = True
    net.run(0, net.nodes[0].replica.on_message(encode_message(sign_proposal(byz, CHAIN, 1, 0, a)), 10))
    assert net.nodes[0].replica is None and net.nodes[0].sign_state is not None
    assert votes_of(net, 0, "prepare", 1, 0) == set()  # the vote never left
    net.command("restart r0")
    net.run(0, net.nodes[0].replica.on_message(encode_message(sign_proposal(byz, CHAIN, 1, 0, b)), 10))
    assert votes_of(net, 0, "prepare", 1, 0) == set()  # refuses B: it signed A before the crash
    # B was this view's proposal: A arriving after it is ignored, not voted for
    net.run(0, net.nodes[0].replica.on_message(encode_message(sign_proposal(byz, CHAIN, 1, 0, a)), 10))
    assert votes_of(net, 0, "prepare", 1, 0) == set()


def test_restart_between_persist_and_send_sends_the_recorded_vote_again():
    net = Network(4)
    net.command("start")
    byz = net.keys[1]
    a = stub_block(1, ZERO, 10, byz.public_key, tag=b"A")
    net.nodes[0].crash_after_persist = True
    net.run(0, net.nodes[0].replica.on_message(encode_message(sign_proposal(byz, CHAIN, 1, 0, a)), 10))
    assert votes_of(net, 0, "prepare", 1, 0) == set()
    net.command("restart r0")
    net.run(0, net.nodes[0].replica.on_message(encode_message(sign_proposal(byz, CHAIN, 1, 0, a)), 10))
    assert votes_of(net, 0, "prepare", 1, 0) == {a.hash()}   # the same vote it recorded, sent at last


def test_a_restart_in_a_view_change_sends_the_same_view_change_again():
    """The first copy may be lost: without it again the others cannot gather a
    quorum for that view. The bytes are the very same (nothing new signed)."""
    net = Network(4)
    for line in ["start", "advance 1000", "tick r1 kind=propose"]:
        net.command(line)
    net.deliver(drop="COMMIT")
    net.command("tick r0 kind=view")
    first = [m for m in sent(net, 0) if isinstance(m, ViewChange)]
    assert len(first) == 1 and first[0].view == 1 and first[0].prepared is not None
    net.command("crash r0")
    net.command("restart r0")
    again = [m for m in sent(net, 0) if isinstance(m, ViewChange)]
    assert again == [first[0], first[0]] and encode_message(again[1]) == encode_message(first[0])


def test_reaching_by_sync_a_height_left_in_a_view_change_sends_that_view_change_again():
    """A write lost everywhere: the validators reopen a height behind, get the
    block back, and enter the height they had asked to leave view 0 of. Each
    must ask again (the same bytes), or none of them gathers the quorum that
    starts the view's timer."""
    net = Network(4)
    for line in ["start", "advance 1000", "tick r1 kind=propose", "deliver", "tick kind=view", "drop"]:
        net.command(line)
    first = [m for m in sent(net, 0) if isinstance(m, ViewChange)]
    assert [(m.height, m.view) for m in first] == [(2, 1)]
    block = net.nodes[0].app.committed.pop()          # the store reopens one height behind
    net.command("crash r0")
    net.command("restart r0")
    r0 = net.nodes[0].replica
    assert r0.height == 1
    sigs = tuple((k.public_key, sign_vote(k, CHAIN, "commit", 1, 0, block.hash()).signature) for k in net.keys[:3])
    net.run(0, r0.on_synced_block(block, CommitCertificate(1, 0, block.hash(), sigs), net.now))
    assert (r0.height, r0.view, r0.in_view_change) == (2, 1, True)
    again = [m for m in sent(net, 0) if isinstance(m, ViewChange)]
    assert len(again) == 2 and encode_message(again[1]) == encode_message(first[0])


def test_a_restart_after_voting_in_the_new_view_sends_no_view_change():
    net = Network(4)
    for line in ["start", "advance 1000", "tick r1 kind=propose"]:
        net.command(line)
    net.deliver(drop="COMMIT")
    for i in range(4):
        net.command(f"tick r{i} kind=view")
    net.deliver()
    state = SignState.decode(net.nodes[0].sign_state).latest
    assert state.view_floor == 1 and state.prepare is not None and state.prepare[0] >= 1
    count = len([m for m in sent(net, 0) if isinstance(m, ViewChange)])
    net.command("crash r0")
    net.command("restart r0")
    assert len([m for m in sent(net, 0) if isinstance(m, ViewChange)]) == count


def test_restart_keeps_the_prepared_certificate_and_the_view_floor():
    net = Network(4)
    for line in ["start", "advance 1000", "tick r1 kind=propose"]:
        net.command(line)
    net.nodes[0].crash_after_persist = False
    net.deliver(drop="COMMIT")
    state = SignState.decode(net.nodes[0].sign_state).latest
    assert state.prepared is not None and state.commit is not None
    net.command("crash r0")
    net.command("restart r0")
    net.command("tick r0 kind=view")
    vc = [m for m in sent(net, 0) if isinstance(m, ViewChange)][-1]
    assert vc.prepared == state.prepared and vc.block.hash() == state.prepared.block_hash
    # after asking to leave view 0, no PREPARE or COMMIT below view 1, even after a restart
    net.command("crash r0")
    net.command("restart r0")
    r = net.nodes[0].replica
    assert r.view == 1 and r.in_view_change
    assert r._persist_vote("prepare", 0, state.prepared.block_hash) is None
    assert r._persist_vote("commit", 0, state.prepared.block_hash) is None


def test_proposal_time_rules_and_wrong_parent_rejected():
    net = Network(4)
    net.command("start")
    r = net.nodes[0].replica
    k = net.keys[1]
    too_far = stub_block(1, ZERO, 10_000, k.public_key)
    assert r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, too_far)), now_ms=7000) == []  # drift 2000
    wrong_parent = stub_block(1, b"\1" * 32, 10, k.public_key)
    assert r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, wrong_parent)), 10) == []
    zero_time = stub_block(1, ZERO, 0, k.public_key)
    assert r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, zero_time)), 10) == []  # not after parent
    not_own = stub_block(1, ZERO, 10, net.keys[2].public_key)
    assert r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, not_own)), 10) == []
    not_primary = stub_block(1, ZERO, 10, net.keys[2].public_key)
    assert r.on_message(encode_message(sign_proposal(net.keys[2], CHAIN, 1, 0, not_primary)), 10) == []
    assert r.on_message(b"\xc1garbage", 10) == []
    ok = stub_block(1, ZERO, 8000, k.public_key)
    assert r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, ok)), 7000) == [Execute(ok)]
    # one pre-prepare per (h, v)
    other = stub_block(1, ZERO, 8000, k.public_key, tag=b"x")
    assert r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, other)), 7000) == []


def test_invalid_block_is_not_prepared():
    net = Network(4)
    net.command("start")
    r = net.nodes[0].replica
    b = stub_block(1, ZERO, 10, net.keys[1].public_key)
    assert r.on_message(encode_message(sign_proposal(net.keys[1], CHAIN, 1, 0, b)), 10) == [Execute(b)]
    assert r.on_block_validated(b.hash(), False, 10) == []


def test_conflicting_votes_become_evidence_and_go_into_the_next_proposal():
    net = Network(4)
    net.command("start")
    r = net.nodes[1].replica  # primary of (1, 0)
    k = net.keys[3]
    v1 = sign_vote(k, CHAIN, "prepare", 1, 0, b"\1" * 32)
    v2 = sign_vote(k, CHAIN, "prepare", 1, 0, b"\2" * 32)
    r.on_message(encode_message(v1), 0)
    r.on_message(encode_message(v2), 0)
    r.on_message(encode_message(v2), 0)
    assert [e.id for e in r.pending_evidence()] == [Evidence.of(v1, v2).id]
    # the same evidence received as a message is deduplicated
    r.on_message(encode_message(Evidence.of(v1, v2)), 0)
    assert len(r.pending_evidence()) == 1
    actions = r.on_timer("propose", 1, 0, 1000)
    assert isinstance(actions[0], BuildProposal) and actions[0].evidence == (Evidence.of(v1, v2).encode(),)
    # evidence for a height far beyond committed + 1 is refused
    f1 = sign_vote(k, CHAIN, "commit", 9, 0, b"\1" * 32)
    f2 = sign_vote(k, CHAIN, "commit", 9, 0, b"\2" * 32)
    r.on_message(encode_message(Evidence.of(f1, f2)), 0)
    assert len(r.pending_evidence()) == 1


def test_evidence_cap_per_block():
    net = Network(4, max_evidence_per_block=2)
    net.command("start")
    r = net.nodes[1].replica
    for view in range(3):
        for h in (b"\1" * 32, b"\2" * 32):
            r.on_message(encode_message(sign_vote(net.keys[3], CHAIN, "prepare", 1, view, h)), 0)
    assert len(r.pending_evidence()) == 3
    assert len(r.on_timer("propose", 1, 0, 1000)[0].evidence) == 2


def test_certificate_at_or_above_height_requests_sync_once():
    net = Network(4)
    net.command("start")
    r = net.nodes[0].replica
    block_hash = b"\5" * 32
    sigs = tuple((k.public_key, sign_vote(k, CHAIN, "commit", 3, 0, block_hash).signature) for k in net.keys[:3])
    cert = CommitCertificate(3, 0, block_hash, sigs)
    assert r.on_commit_certificate(cert, 0) == [RequestSync(1, cert)]
    assert r.on_commit_certificate(cert, 0) == []
    bad = CommitCertificate(4, 0, block_hash, sigs)  # signatures for another height
    assert r.on_commit_certificate(bad, 0) == []
    short_cert = CommitCertificate(5, 0, block_hash, sigs[:2])
    assert r.on_commit_certificate(short_cert, 0) == []


def test_synced_block_advances_the_height():
    net = Network(4)
    net.command("start")
    r = net.nodes[0].replica
    b = stub_block(1, ZERO, 10, net.keys[1].public_key)
    sigs = tuple((k.public_key, sign_vote(k, CHAIN, "commit", 1, 0, b.hash()).signature) for k in net.keys[:3])
    assert r.on_synced_block(b, CommitCertificate(1, 0, b.hash(), sigs[:2]), 0) == []
    r.on_synced_block(b, CommitCertificate(1, 0, b.hash(), sigs), 0)
    assert (r.height, r.prev_hash) == (2, b.hash())


def test_weak_quorum_joins_the_view_change_and_n4_sends_one_new_view():
    net = Network(4)
    net.command("start")
    net.command("tick r0 r3 kind=view")  # two = f + 1 ask for view 1
    net.command("deliver")
    assert all(net.nodes[i].replica.height == 2 for i in range(4))
    assert all(votes_of(net, i, 'commit', 1, 1) for i in range(4))  # all joined view 1
    new_views = [m for m in sent(net, 2) if type(m).__name__ == "NewView"]
    assert len(new_views) == 1  # at n = 4, f + 1 == 2f: still exactly one NEW-VIEW
    assert all(len(net.nodes[i].app.committed) == 1 for i in range(4))


def test_view_timeouts_double():
    net = Network(4, view_timeout_ms=100)
    net.command("start")
    delays = []
    for _ in range(4):
        net.command("tick kind=view")
        net.command("deliver drop=NEW-VIEW")      # every view change gathers its quorum; no new view starts
        delays.append(net.nodes[0].timers["view"][2])
    assert delays == [200, 400, 800, 1600]
    assert net.nodes[0].replica.view == 4


def test_a_replica_alone_in_a_view_change_waits_for_a_quorum():
    """Its view-1 timer firing moves it nowhere while nobody else asked for
    view 1; the VIEW-CHANGE that completes a quorum starts that timer again."""
    net = Network(4, view_timeout_ms=100)
    net.command("start")
    net.command("tick r0 kind=view")
    net.command("tick r0 kind=view")
    r0 = net.nodes[0].replica
    assert (r0.view, r0.in_view_change) == (1, True)
    assert [m.view for m in net.nodes[0].signed if isinstance(m, ViewChange)] == [1]
    assert "view" not in net.nodes[0].timers
    net.command("tick r1 r3 kind=view")
    net.command("deliver r0")
    assert net.nodes[0].timers["view"] == (1, 1, 200)
    net.command("tick r0 kind=view")
    assert [m.view for m in net.nodes[0].signed if isinstance(m, ViewChange)] == [1, 2]


def test_equivocating_proposals_become_evidence():
    net = Network(4)
    net.command("start")
    r = net.nodes[0].replica
    k = net.keys[1]
    a = stub_block(1, ZERO, 10, k.public_key, tag=b"A")
    b = stub_block(1, ZERO, 10, k.public_key, tag=b"B")
    r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, a)), 10)
    r.on_message(encode_message(sign_proposal(k, CHAIN, 1, 0, b)), 10)
    [evidence] = r.pending_evidence()
    assert evidence.first.validator == k.public_key and {evidence.first.block_hash, evidence.second.block_hash} == {a.hash(), b.hash()}


def test_future_buffer_is_bounded():
    net = Network(4, buffer_cap=5)
    net.command("start")
    r = net.nodes[0].replica
    for i in range(20):
        r.on_message(encode_message(sign_vote(net.keys[2], CHAIN, "prepare", 2, 0, bytes([i]) * 32)), 0)
        r.on_message(encode_message(sign_vote(net.keys[2], CHAIN, "commit", 3, 0, bytes([i]) * 32)), 0)
    assert len(r.buffer) == 5 and len(r.future_commits) == 5
    # beyond the window of heights: dropped outright
    r.on_message(encode_message(sign_vote(net.keys[2], CHAIN, "prepare", 99, 0, ZERO)), 0)
    assert len(r.buffer) == 5


def test_single_validator_development_chain_commits_alone():
    net = Network(1)
    for line in ["start", "advance 1000", "tick r0 kind=propose", "advance 1000", "tick r0 kind=propose"]:
        net.command(line)
    assert [b.height for b in net.nodes[0].app.committed] == [1, 2]


def test_wrong_new_view_is_not_prepared():
    net = Network(4)
    for line in ["start", "advance 1000", "tick r1 kind=propose"]:
        net.command(line)
    net.deliver(drop="COMMIT")
    net.command("advance 4000")
    net.command("tick r0 r1 r2 r3 kind=view")
    net.command("crash r2")
    net.command("bad-new-view r2")
    net.command("deliver")
    assert all(not votes_of(net, i, "prepare", 1, 1) for i in (0, 1, 3))


def test_resend_timer_repeats_the_same_bytes_and_signs_nothing_new():
    net = Network(4, resend_ms=100)
    for line in ["start", "advance 1000", "tick r1 kind=propose"]:
        net.command(line)
    net.deliver(drop="COMMIT")
    r = net.nodes[0].replica
    before = dict(r.outbox)
    actions = r.on_timer("resend", 1, 0, 2000)
    assert not any(isinstance(a, PersistSignState) for a in actions)
    assert [a.payload for a in actions if isinstance(a, Broadcast)] == list(before.values())
    assert {decode_message(raw, 4, 1 << 20).phase for raw in before.values()} == {"prepare", "commit"}
