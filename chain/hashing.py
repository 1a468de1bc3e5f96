"""SHA-256, the one hash of the protocol."""
import hashlib

EMPTY_HASH = hashlib.sha256(b"").digest()
ZERO_HASH = bytes(32)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
