"""The peer handshake and frame codec: who may talk, and what gets through."""
import hashlib

import pytest
from hypothesis import given, strategies as st

from chain.encoding import pack
from chain.keys import KeyPair
from chain.signing import sign_fields
from p2p.errors import PeerError
from p2p.secure_channel import Handshake, SecureSession

CHAIN = "shopchain-test"


def key(name: str) -> KeyPair:
    return KeyPair(hashlib.sha256(name.encode()).digest())


def ephemeral(name: str) -> bytes:
    return hashlib.sha256(b"ephemeral " + name.encode()).digest()


def connect(left: Handshake, right: Handshake) -> tuple[SecureSession, SecureSession]:
    left_auth = left.on_hello(right.hello())
    right_auth = right.on_hello(left.hello())
    return left.on_auth(right_auth), right.on_auth(left_auth)


def fresh_sender(side: Handshake, peer: Handshake):
    """A sending cipher of ``side`` at frame 0, as a forger holding its ephemeral key has."""
    return side._derive_ciphers(peer.hello())[0]


def pair(chain_left: str = CHAIN, chain_right: str = CHAIN) -> tuple[Handshake, Handshake]:
    return (
        Handshake(key("alice"), chain_left, "127.0.0.1:7001", ephemeral("alice")),
        Handshake(key("bob"), chain_right, "127.0.0.1:7002", ephemeral("bob")),
    )


def test_handshake_identifies_both_sides_and_frames_flow_both_ways():
    alice, bob = connect(*pair())
    assert alice.peer_key == key("bob").public_key and alice.peer_listen_address == "127.0.0.1:7002"
    assert bob.peer_key == key("alice").public_key and bob.peer_listen_address == "127.0.0.1:7001"
    for n in range(3):
        assert bob.receiver.open(alice.sender.seal(b"ping %d" % n)) == b"ping %d" % n
        assert alice.receiver.open(bob.sender.seal(b"pong %d" % n)) == b"pong %d" % n


def test_frames_are_encrypted():
    alice, _ = connect(*pair())
    assert b"secret order" not in alice.sender.seal(b"secret order")


def test_peer_on_another_chain_is_refused():
    left, right = pair(CHAIN, "other-chain")
    right_auth = right.on_hello(left.hello())
    left.on_hello(right.hello())
    with pytest.raises(PeerError) as refused:
        left.on_auth(right_auth)
    assert refused.value.code == "p2p.wrong_chain"


def test_peer_that_cannot_prove_its_key_is_refused():
    left, right = pair()
    left.on_hello(right.hello())
    right.on_hello(left.hello())
    # A peer claiming bob's key but signing with another one.
    impostor_signature = sign_fields(key("mallory"), "handshake", [CHAIN, right.hello(), left.hello(), "127.0.0.1:7002"])
    forged = fresh_sender(right, left).seal(pack([CHAIN, key("bob").public_key, "127.0.0.1:7002", impostor_signature]))
    with pytest.raises(PeerError) as refused:
        left.on_auth(forged)
    assert refused.value.code == "p2p.bad_identity"


def test_relayed_handshake_cannot_impersonate():
    """Mallory sits between alice and bob with his own ephemeral keys and
    re-encrypts alice's genuine auth message for bob: bob refuses it, since
    alice signed ephemeral keys bob never saw."""
    alice = Handshake(key("alice"), CHAIN, "127.0.0.1:7001", ephemeral("alice"))
    bob = Handshake(key("bob"), CHAIN, "127.0.0.1:7002", ephemeral("bob"))
    mallory_to_alice = Handshake(key("mallory"), CHAIN, "127.0.0.1:7003", ephemeral("m1"))
    mallory_to_bob = Handshake(key("mallory"), CHAIN, "127.0.0.1:7003", ephemeral("m2"))
    alice_auth = alice.on_hello(mallory_to_alice.hello())
    mallory_to_alice.on_hello(alice.hello())
    bob.on_hello(mallory_to_bob.hello())
    mallory_to_bob.on_hello(bob.hello())
    alice_plain = mallory_to_alice._ciphers[1].open(alice_auth)
    relayed = fresh_sender(mallory_to_bob, bob).seal(alice_plain)
    with pytest.raises(PeerError) as refused:
        bob.on_auth(relayed)
    assert refused.value.code == "p2p.bad_identity"


def test_auth_forwarded_unchanged_fails_authentication():
    alice = Handshake(key("alice"), CHAIN, "a", ephemeral("alice"))
    relay = Handshake(key("mallory"), CHAIN, "m", ephemeral("m"))
    bob = Handshake(key("bob"), CHAIN, "b", ephemeral("bob"))
    alice_auth = alice.on_hello(relay.hello())
    bob.on_hello(relay.hello())
    with pytest.raises(PeerError) as refused:
        bob.on_auth(alice_auth)
    assert refused.value.code == "p2p.bad_frame"


def test_reflected_ephemeral_key_is_refused():
    alice, _ = pair()
    with pytest.raises(PeerError) as refused:
        alice.on_hello(alice.hello())
    assert refused.value.code == "p2p.reflected"


@pytest.mark.parametrize("hello", [bytes(32), b"\x01" + bytes(31), b"short"])
def test_degenerate_ephemeral_key_is_refused(hello):
    alice, _ = pair()
    with pytest.raises(PeerError) as refused:
        alice.on_hello(hello)
    assert refused.value.code == "p2p.bad_hello"


def test_replayed_and_reordered_frames_fail():
    alice, bob = connect(*pair())
    alice.sender.seal(b"one")  # frame 0, never delivered
    second = alice.sender.seal(b"two")
    with pytest.raises(PeerError):
        bob.receiver.open(second)
    alice2, bob2 = connect(*pair())
    frame = alice2.sender.seal(b"once")
    assert bob2.receiver.open(frame) == b"once"
    with pytest.raises(PeerError) as replayed:
        bob2.receiver.open(frame)
    assert replayed.value.code == "p2p.bad_frame"


@given(position=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_fails_authentication(position, mask):
    alice, bob = connect(*pair())
    frame = bytearray(alice.sender.seal(b"transfer 100 SHC to carol"))
    frame[position % len(frame)] ^= mask
    with pytest.raises(PeerError) as refused:
        bob.receiver.open(bytes(frame))
    assert refused.value.code == "p2p.bad_frame"


def test_garbage_auth_message_is_refused():
    left, right = pair()
    left.on_hello(right.hello())
    right.on_hello(left.hello())
    with pytest.raises(PeerError) as refused:
        left.on_auth(fresh_sender(right, left).seal(b"\xc1garbage"))
    assert refused.value.code == "p2p.bad_auth"


@pytest.mark.parametrize("length", [0, 1, 15])
def test_a_frame_shorter_than_its_tag_is_a_bad_frame_after_and_during_the_handshake(length):
    left, right = pair()
    session, _ = connect(left, right)
    with pytest.raises(PeerError) as refused:
        session.receiver.open(b"\x00" * length)
    assert refused.value.code == "p2p.bad_frame"
    left, right = pair()
    left.on_hello(right.hello())
    with pytest.raises(PeerError) as refused:
        left.on_auth(b"\x00" * length)
    assert refused.value.code in ("p2p.bad_frame", "p2p.bad_auth")
