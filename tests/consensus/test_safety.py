"""Hypothesis: random delivery orders, drops, duplicates and timer firings with
f = 1 of 4, the primary of (1, 0) Byzantine and equivocating (different blocks
to different replicas, conflicting PREPAREs and COMMITs): no two honest
replicas commit different blocks at one height. 60 examples of up to 120 steps."""
from hypothesis import event, given, settings, strategies as st

from chain.votes import sign_vote
from consensus.messages import encode_message, sign_proposal
from tests.consensus.harness import CHAIN, ZERO, Network, stub_block

BYZ = 1
HONEST = (0, 2, 3)

step = st.one_of(
    st.tuples(st.just("deliver"), st.integers(0, 10_000)),
    st.tuples(st.just("drop"), st.integers(0, 10_000)),
    st.tuples(st.just("dup"), st.integers(0, 10_000)),
    st.tuples(st.just("timer"), st.sampled_from(HONEST)),
    st.tuples(st.just("propose"), st.sampled_from(HONEST)),
    st.tuples(st.just("byz"), st.tuples(st.integers(0, 2), st.integers(0, 1), st.sampled_from(HONEST), st.booleans())),
)


def equivocate(net: Network) -> tuple[bytes, bytes]:
    key = net.keys[BYZ]
    a = stub_block(1, ZERO, 5, key.public_key, tag=b"A")
    b = stub_block(1, ZERO, 5, key.public_key, tag=b"B")
    for dst, block in ((0, a), (2, b), (3, b)):
        net.queue.append((BYZ, dst, encode_message(sign_proposal(key, CHAIN, 1, 0, block))))
    return a.hash(), b.hash()


@settings(max_examples=60, deadline=None)
@given(st.lists(step, max_size=120))
def test_no_two_honest_replicas_commit_different_blocks(steps):
    net = Network(4, view_timeout_ms=1000)
    net.nodes[BYZ].replica = None  # driven by hand below
    for i in HONEST:
        net.run(i, net.nodes[i].replica.start(0))
    hashes = equivocate(net)
    for kind, arg in steps:
        net.now += 10
        if kind in ("deliver", "drop", "dup") and net.queue:
            index = arg % len(net.queue)
            if kind == "deliver":
                src, dst, raw = net.queue.pop(index)
                if net.nodes[dst].replica is not None:
                    net.run(dst, net.nodes[dst].replica.on_message(raw, net.now))
            elif kind == "drop":
                net.queue.pop(index)
            else:
                net.queue.append(net.queue[index])
        elif kind in ("timer", "propose"):
            node = net.nodes[arg]
            timer = node.timers.pop("view" if kind == "timer" else "propose", None)
            if timer is not None:
                net.run(arg, node.replica.on_timer("view" if kind == "timer" else "propose", timer[0], timer[1], net.now))
        elif kind == "byz":
            view, which, dst, commit = arg
            phase = "commit" if commit else "prepare"
            vote = sign_vote(net.keys[BYZ], CHAIN, phase, 1, view, hashes[which])
            net.queue.append((BYZ, dst, encode_message(vote)))
        check_safety(net)
    # then a fair phase: everything queued is delivered and timers fire
    for _ in range(4):
        net.deliver(limit=2000)
        check_safety(net)
        fire_timers(net)
    check_safety(net)
    event(f"honest heights committed: {max(len(net.nodes[i].app.committed) for i in HONEST)}")


def fire_timers(net: Network) -> None:
    """The propose timer if one is set, else the view timer, of each honest replica."""
    for i in HONEST:
        timers = net.nodes[i].timers
        kind = "propose" if "propose" in timers else "view"
        if kind in timers and net.nodes[i].replica is not None:
            h, v, _ = timers.pop(kind)
            net.run(i, net.nodes[i].replica.on_timer(kind, h, v, net.now))


def check_safety(net: Network) -> None:
    chains = [[b.hash() for b in net.nodes[i].app.committed] for i in HONEST]
    for x in chains:
        for y in chains:
            shared = min(len(x), len(y))
            assert x[:shared] == y[:shared], "two honest replicas committed different blocks at one height"


def test_equivocation_is_survived_with_fair_delivery():
    """Liveness sanity: deliver everything, fire timers; the honest three commit height 1."""
    net = Network(4, view_timeout_ms=1000)
    net.nodes[BYZ].replica = None
    for i in HONEST:
        net.run(i, net.nodes[i].replica.start(0))
    equivocate(net)
    for _ in range(6):
        net.deliver()
        if all(net.nodes[i].app.committed for i in HONEST):
            break
        for i in HONEST:
            node = net.nodes[i]
            if "view" in node.timers and node.replica is not None:
                h, v, _ = node.timers.pop("view")
                net.run(i, node.replica.on_timer("view", h, v, net.now))
    assert all(net.nodes[i].app.committed for i in HONEST)
    assert len({net.nodes[i].app.committed[0].hash() for i in HONEST}) == 1


def test_the_checker_is_not_vacuous(monkeypatch):
    """With a planted rule bug (quorum 2 instead of 3) the equivocation splits the chain."""
    import pytest
    from chain.validators import ValidatorSet
    monkeypatch.setattr(ValidatorSet, "quorum", property(lambda self: 2))
    net = Network(4, view_timeout_ms=1000)
    net.nodes[BYZ].replica = None
    for i in HONEST:
        net.run(i, net.nodes[i].replica.start(0))
    a, b = equivocate(net)
    net.queue.append((BYZ, 0, encode_message(sign_vote(net.keys[BYZ], CHAIN, "prepare", 1, 0, a))))
    net.queue.append((BYZ, 0, encode_message(sign_vote(net.keys[BYZ], CHAIN, "commit", 1, 0, a))))
    with pytest.raises(AssertionError, match="different blocks"):
        for _ in range(3):
            net.deliver()
            check_safety(net)
