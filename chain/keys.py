"""Ed25519 keys: generation, seeds, addresses and key files.

An account address is the lowercase hex of its 32-byte public key. A key
file is JSON ``{"public_key": hex, "seed": hex}`` written with mode 0600.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nacl.bindings
import nacl.exceptions
import nacl.signing

from chain.constants import PUBLIC_KEY_BYTES, SEED_BYTES, SIGNATURE_BYTES
from chain.errors import KeyFileError


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An Ed25519 signing key with its public key."""

    seed: bytes
    public_key: bytes = field(init=False)
    _signing_key: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, not {len(self.seed)}")
        signing_key = nacl.signing.SigningKey(self.seed)
        object.__setattr__(self, "_signing_key", signing_key)
        object.__setattr__(self, "public_key", bytes(signing_key.verify_key))

    @classmethod
    def generate(cls) -> "KeyPair":
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def address(self) -> str:
        return self.public_key.hex()

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return self._signing_key.sign(message).signature


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature of ``message``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:   # libsodium directly: a VerifyKey object per call only repeats the length checks above
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


Verify = Callable[[bytes, bytes, bytes], bool]
"""A signature check with the signature of ``verify_signature``."""


class SignatureVerifier:
    """``verify_signature`` that remembers its answers.

    Answers are kept in a dict keyed by (public key, signature, 32-byte
    BLAKE2b digest of the message), so a cached answer is the answer the
    check gives for the same key, message and signature, and a failed check
    stays failed. Adding an answer to a dict that already holds
    ``capacity`` answers clears it first. Each step is a single dict operation, so sharing one verifier between
    the event loop and a worker thread is safe under the GIL.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._answers: dict[tuple[bytes, bytes, bytes], bool] = {}

    def __len__(self) -> int:
        return len(self._answers)

    def __call__(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        key = (public_key, signature, hashlib.blake2b(message, digest_size=32).digest())
        answer = self._answers.get(key)
        if answer is None:
            answer = verify_signature(public_key, message, signature)
            if len(self._answers) >= self._capacity:
                self._answers.clear()
            self._answers[key] = answer
        return answer


_ADDRESS_PATTERN = re.compile(f"[0-9a-f]{{{2 * PUBLIC_KEY_BYTES}}}")


def is_address(text: str) -> bool:
    """True if ``text`` is the lowercase hex of a 32-byte public key."""
    return isinstance(text, str) and _ADDRESS_PATTERN.fullmatch(text) is not None


def save_key_file(path: str | os.PathLike[str], key: KeyPair) -> None:
    """Write ``key`` to ``path`` with mode 0600; refuses to overwrite a file."""
    document = json.dumps({"public_key": key.public_key.hex(), "seed": key.seed.hex()}, indent=2)
    target = Path(path)
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError("key.exists", f"{target} already exists; choose another path or remove it first") from None
    except OSError as error:
        raise KeyFileError("key.unwritable", f"cannot create {target}: {error.strerror}; check the folder") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(document + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_key_file(path: str | os.PathLike[str]) -> KeyPair:
    """Read a key file, checking that its public key matches its seed."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError("key.missing", f"no key file at {source}; create one with 'shopchain keys new --out {source}'") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise KeyFileError("key.unreadable", f"cannot read {source}: {reason}; check its permissions") from None
    return parse_key_document(text, str(source))


def parse_key_document(text: str, where: str = "key file") -> KeyPair:
    """Parse the JSON of a key file; ``where`` names it in error messages."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise KeyFileError("key.malformed", f"{where} is not JSON; expected {{\"public_key\": hex, \"seed\": hex}}") from None
    if not isinstance(document, dict) or not isinstance(document.get("seed"), str):
        raise KeyFileError("key.malformed", f"{where} has no \"seed\" string; expected {{\"public_key\": hex, \"seed\": hex}}")
    seed = _hex_field(document["seed"], SEED_BYTES, "seed", where)
    key = KeyPair(seed)
    public_key = document.get("public_key")
    if not isinstance(public_key, str) or _hex_field(public_key, PUBLIC_KEY_BYTES, "public_key", where) != key.public_key:
        raise KeyFileError("key.malformed", f"{where}: public_key does not belong to seed; the file is damaged")
    return key


def _hex_field(text: str, size: int, name: str, where: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError("key.malformed", f"{where}: {name} is not hex") from None
    if len(value) != size or text != value.hex():
        raise KeyFileError("key.malformed", f"{where}: {name} must be {size} bytes of lowercase hex")
    return value
