"""The authenticated, encrypted peer handshake and frame codec (docs/protocol.md section 11).

Sans-IO, in the manner of CometBFT's secret connection:

1. each side sends a fresh ephemeral X25519 public key (32 bytes, plain);
2. both derive two session keys, one per direction, from the X25519 shared
   secret and both ephemeral keys (BLAKE2b, personalised); the side whose
   ephemeral key sorts lower sends with the first key;
3. each side sends, encrypted, ``pack([chain_id, identity_key, listen_address,
   signature])`` where the signature (``handshake`` domain, Ed25519 identity
   key) covers ``[chain_id, own_ephemeral, peer_ephemeral, listen_address]``.

Because each signature covers both ephemeral keys, a relay that substitutes
its own ephemeral key cannot present a valid signature, and a handshake
cannot be replayed into another session. Every later frame is
ChaCha20-Poly1305 with a counting nonce per direction, so a dropped,
reordered, replayed or forged frame fails authentication.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nacl.bindings
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.public

from chain.constants import PUBLIC_KEY_BYTES, SIGNATURE_BYTES
from chain.encoding import pack, unpack
from chain.errors import DecodeError
from chain.keys import KeyPair
from chain.signing import sign_fields, verify_fields
from p2p.errors import PeerError

EPHEMERAL_KEY_BYTES = 32
SESSION_KEY_BYTES = 32
# Personalisation of the key derivation: a change of protocol version changes it.
KDF_PERSON = b"shopchain-p2p-v1"
# 96-bit IETF nonce: four zero bytes, then a 64-bit little-endian frame counter.
_NONCE_PREFIX = bytes(4)
_COUNTER_LIMIT = 2**64
_TAG_BYTES = nacl.bindings.crypto_aead_chacha20poly1305_ietf_ABYTES
# An auth message holds a chain id (<= 64 B), a key, an address and a signature.
AUTH_BYTES_MAX = 1024
LISTEN_ADDRESS_BYTES_MAX = 256


class FrameCipher:
    """One direction of a session: a key and the next frame number."""

    __slots__ = ("_key", "_counter")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._counter = 0

    def _next_nonce(self) -> bytes:
        if self._counter >= _COUNTER_LIMIT:
            raise PeerError("p2p.session_exhausted", "2^64 frames sent on one session; reconnect")
        nonce = _NONCE_PREFIX + self._counter.to_bytes(8, "little")
        self._counter += 1
        return nonce

    def seal(self, plaintext: bytes) -> bytes:
        return nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, None, self._next_nonce(), self._key)

    def open(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < _TAG_BYTES:     # libsodium's binding would fail on a negative length, untyped
            raise PeerError("p2p.bad_frame", f"a frame is at least its {_TAG_BYTES}-byte tag; the peer is dropped")
        try:
            return nacl.bindings.crypto_aead_chacha20poly1305_ietf_decrypt(ciphertext, None, self._next_nonce(), self._key)
        except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
            raise PeerError("p2p.bad_frame", "a frame failed authentication; the peer is dropped") from None


@dataclass(slots=True)
class SecureSession:
    """An established session: who the peer is, and the two ciphers."""

    peer_key: bytes
    peer_listen_address: str
    sender: FrameCipher = field(repr=False)
    receiver: FrameCipher = field(repr=False)


class Handshake:
    """One side of a handshake; feed it the peer's two messages in order."""

    def __init__(self, identity: KeyPair, chain_id: str, listen_address: str, ephemeral_seed: bytes | None = None) -> None:
        self._identity = identity
        self._chain_id = chain_id
        self._listen_address = listen_address
        self._ephemeral = (
            nacl.public.PrivateKey.from_seed(ephemeral_seed) if ephemeral_seed is not None else nacl.public.PrivateKey.generate()
        )
        self._own_ephemeral = bytes(self._ephemeral.public_key)
        self._peer_ephemeral: bytes | None = None
        self._ciphers: tuple[FrameCipher, FrameCipher] | None = None

    def hello(self) -> bytes:
        """The first message: our ephemeral public key."""
        return self._own_ephemeral

    def on_hello(self, peer_ephemeral: bytes) -> bytes:
        """Take the peer's ephemeral key; return our encrypted auth message."""
        if self._peer_ephemeral is not None:
            raise RuntimeError("on_hello called twice")
        if len(peer_ephemeral) != EPHEMERAL_KEY_BYTES:
            raise PeerError("p2p.bad_hello", f"an ephemeral key is {EPHEMERAL_KEY_BYTES} bytes")
        if peer_ephemeral == self._own_ephemeral:
            raise PeerError("p2p.reflected", "the peer echoed our ephemeral key back; dropped")
        self._peer_ephemeral = peer_ephemeral
        self._ciphers = self._derive_ciphers(peer_ephemeral)
        fields = [self._chain_id, self._own_ephemeral, peer_ephemeral, self._listen_address]
        signature = sign_fields(self._identity, "handshake", fields)
        auth = pack([self._chain_id, self._identity.public_key, self._listen_address, signature])
        return self._ciphers[0].seal(auth)

    def _derive_ciphers(self, peer_ephemeral: bytes) -> tuple[FrameCipher, FrameCipher]:
        try:
            shared = nacl.bindings.crypto_scalarmult(bytes(self._ephemeral), peer_ephemeral)
        except nacl.exceptions.RuntimeError:
            raise PeerError("p2p.bad_hello", "the peer's ephemeral key is a low-order point; dropped") from None
        low, high = sorted((self._own_ephemeral, peer_ephemeral))
        material = nacl.hash.blake2b(
            shared + low + high, digest_size=2 * SESSION_KEY_BYTES, person=KDF_PERSON, encoder=nacl.encoding.RawEncoder
        )
        low_to_high = FrameCipher(material[:SESSION_KEY_BYTES])
        high_to_low = FrameCipher(material[SESSION_KEY_BYTES:])
        if self._own_ephemeral == low:
            return low_to_high, high_to_low
        return high_to_low, low_to_high

    def on_auth(self, frame: bytes) -> SecureSession:
        """Check the peer's auth message; return the established session."""
        if self._ciphers is None or self._peer_ephemeral is None:
            raise RuntimeError("on_auth before on_hello")
        sender, receiver = self._ciphers
        plaintext = receiver.open(frame)
        chain_id, peer_key, listen_address, signature = _parse_auth(plaintext)
        if chain_id != self._chain_id:
            raise PeerError("p2p.wrong_chain", f"peer is on chain {chain_id!r}, we are on {self._chain_id!r}")
        fields = [chain_id, self._peer_ephemeral, self._own_ephemeral, listen_address]
        if not verify_fields(peer_key, "handshake", fields, signature):
            raise PeerError("p2p.bad_identity", "the peer could not prove its key for this session; dropped")
        return SecureSession(peer_key, listen_address, sender, receiver)


def _parse_auth(plaintext: bytes) -> tuple[str, bytes, str, bytes]:
    try:
        items = unpack(plaintext, AUTH_BYTES_MAX)
    except DecodeError as error:
        raise PeerError("p2p.bad_auth", f"the auth message is not canonical ({error.code})") from None
    if (
        not isinstance(items, list) or len(items) != 4
        or not isinstance(items[0], str)
        or not isinstance(items[1], bytes) or len(items[1]) != PUBLIC_KEY_BYTES
        or not isinstance(items[2], str) or len(items[2]) > LISTEN_ADDRESS_BYTES_MAX
        or not isinstance(items[3], bytes) or len(items[3]) != SIGNATURE_BYTES
    ):
        raise PeerError("p2p.bad_auth", "the auth message is not [chain_id, public key, listen address, signature]")
    return items[0], items[1], items[2], items[3]
