"""Domain-separated signatures (docs/protocol.md section 3).

Every signature covers ``b"shopchain/<purpose>/v1\\x00" + pack([...])`` so a
signature made for one purpose never verifies for another.
"""
from __future__ import annotations

from typing import Any, Sequence

from chain.constants import SIGNING_PURPOSES
from chain.encoding import pack
from chain.keys import KeyPair, Verify, verify_signature

DOMAIN_TAGS: dict[str, bytes] = {purpose: f"shopchain/{purpose}/v1\x00".encode() for purpose in SIGNING_PURPOSES}


def domain_tag(purpose: str) -> bytes:
    try:
        return DOMAIN_TAGS[purpose]
    except KeyError:
        raise ValueError(f"unknown signing purpose {purpose!r}; one of {SIGNING_PURPOSES}") from None


def signing_bytes(purpose: str, fields: Sequence[Any]) -> bytes:
    """The exact bytes a signature for ``purpose`` over ``fields`` covers."""
    return domain_tag(purpose) + pack(list(fields))


def sign_fields(key: KeyPair, purpose: str, fields: Sequence[Any]) -> bytes:
    return key.sign(signing_bytes(purpose, fields))


def verify_fields(public_key: bytes, purpose: str, fields: Sequence[Any], signature: bytes,
                  verify: Verify = verify_signature) -> bool:
    return verify(public_key, signing_bytes(purpose, fields), signature)
