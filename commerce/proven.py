"""Commerce objects rebuilt from proven state only.

``ProvenState`` is a state reader over values a light client proved
(chain/light.py). Running commerce's own getters (commerce/queries.py) on
it derives every key from the object's id with commerce's own key functions
and decodes every record with commerce's own decoding: one definition of
each. A getter that reads a key not proven yet raises ``MissingProof`` with
that key, so the caller proves it and runs the getter again, at the same
height; a range of keys cannot be proven (no range proofs), so a getter
that scans one is refused (``verify.unprovable``). Nothing a getter returns
comes from anywhere but a proof.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from chain.errors import CodedError


class MissingProof(Exception):
    """The getter read ``key``, which is not proven yet."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key.hex())
        self.key = key


class ProvenState:
    """A chain.kv.KeyValueReader over proven values (None: proven absent)."""

    def __init__(self, values: Mapping[bytes, bytes | None]) -> None:
        self._values = values

    def get(self, key: bytes) -> bytes | None:
        if key not in self._values:
            raise MissingProof(key)
        return self._values[key]

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        raise CodedError("verify.unprovable", "this answer reads a range of keys, which state proofs do not cover; "
                                              "ask for the object by its id")
