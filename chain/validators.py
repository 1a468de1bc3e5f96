"""The validator set and the quorum arithmetic of docs/protocol.md section 8.

f = (n - 1) // 3 faulty validators are tolerated; a quorum is 2n // 3 + 1
distinct validators, so any two quorums share at least f + 1 of them and
hence an honest one; a weak quorum, f + 1, holds at least one honest one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from chain.constants import PUBLIC_KEY_BYTES
from chain.encoding import pack
from chain.hashing import sha256


def max_faulty(n: int) -> int:
    return (n - 1) // 3


def quorum_size(n: int) -> int:
    return 2 * n // 3 + 1


def weak_quorum_size(n: int) -> int:
    return max_faulty(n) + 1


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators' public keys in set order, which fixes primaries and hashes."""

    keys: tuple[bytes, ...]
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a validator set has at least one validator")
        if any(not isinstance(key, bytes) or len(key) != PUBLIC_KEY_BYTES for key in self.keys):
            raise ValueError(f"validator keys are {PUBLIC_KEY_BYTES}-byte public keys")
        index = {key: position for position, key in enumerate(self.keys)}
        if len(index) != len(self.keys):
            raise ValueError("a validator appears twice in the set")
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, keys: Iterable[bytes]) -> "ValidatorSet":
        return cls(tuple(keys))

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    @property
    def f(self) -> int:
        return max_faulty(len(self.keys))

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.keys))

    @property
    def weak_quorum(self) -> int:
        return weak_quorum_size(len(self.keys))

    def index_of(self, key: bytes) -> int:
        """Position of ``key``; raises KeyError for a key outside the set."""
        return self._index[key]

    def primary(self, height: int, view: int) -> bytes:
        return self.keys[(height + view) % len(self.keys)]

    def hash(self) -> bytes:
        return sha256(pack(list(self.keys)))
