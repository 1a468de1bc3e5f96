"""Commerce objects rebuilt from proven state only.

``ProvenState`` is a state reader over values a light client proved
(chain/light.py). Running commerce's own getters (commerce/queries.py) on
it derives every key from the object's id with commerce's own key functions
and decodes every record with commerce's own decoding: one definition of
each. A getter that reads a key not proven yet raises ``MissingProof`` with
that key; ``keys_still_needed`` instead reads every unproven key as absent
to find all the keys a getter reaches in one run, so the caller proves them
together and runs the getter again, at the same height, until a run reads
proven keys only (a trace of n events takes three rounds, not n). A range
of keys cannot be proven (no range proofs), so a getter that scans one is
refused (``verify.unprovable``). Nothing a getter returns comes from
anywhere but a proof.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, TypeVar

from chain.errors import CodedError
from chain.kv import KeyValueReader
from chain.light import Trust, Verified, VerifyFailed, verify_state

T = TypeVar("T")


class MissingProof(Exception):
    """The getter read ``key``, which is not proven yet."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key.hex())
        self.key = key


class ProvenState:
    """A chain.kv.KeyValueReader over proven values (None: proven absent)."""

    def __init__(self, values: Mapping[bytes, bytes | None], collect_missing: bool = False) -> None:
        self._values = values
        self.read: set[bytes] = set()
        self.missing: dict[bytes, None] | None = {} if collect_missing else None

    def get(self, key: bytes) -> bytes | None:
        if key not in self._values:
            if self.missing is None:
                raise MissingProof(key)
            self.missing[key] = None
            return None
        self.read.add(key)
        return self._values[key]

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        raise CodedError("verify.unprovable", "this answer reads a range of keys, which state proofs do not cover; "
                                              "ask for the object by its id")


def keys_still_needed(query: Callable[[KeyValueReader], T],
                      values: Mapping[bytes, bytes | None]) -> tuple[list[bytes], T | None]:
    """Run ``query`` on ``values``, reading each unproven key as absent: the
    keys it reached unproven, in the order read, and its result once there
    are none (a run that read nothing but proofs, as ``ProvenState`` alone
    would). A run on stand-ins may fail in any way a getter fails on data it
    never meant to see; it counts only for the keys it names."""
    state = ProvenState(values, collect_missing=True)
    try:
        result = query(state)
    except Exception:
        if not state.missing:
            raise
        return list(state.missing), None
    return (list(state.missing), None) if state.missing else ([], result)


def verify_getter_answer(trust: Trust, answer: Mapping[str, Any], query: Callable[[KeyValueReader], T]) -> tuple[T, Verified]:
    """A getter's answer given with ``prove: true``, checked: its proofs
    against the signed header, then ``query`` (the same getter, bound to the
    same id) run on exactly the proven keys. The object returned is the
    rebuilt one, never the node's own fields; a key the getter needs and
    the answer did not prove, or one it proved and the getter never reads,
    fails."""
    try:
        keys = [bytes.fromhex(item["key"]) for item in answer["proofs"]]
    except (KeyError, TypeError, ValueError) as error:
        raise VerifyFailed(f"the answer carries no proofs ({type(error).__name__}); ask with prove: true") from None
    values, verified = verify_state(trust, answer, keys)
    state = ProvenState(values)
    try:
        rebuilt = query(state)
    except MissingProof as missing:
        raise VerifyFailed(f"the answer does not prove key {missing.key.hex()}, which the object needs") from None
    if state.read != set(keys):
        raise VerifyFailed("the answer proves keys the object does not need")
    return rebuilt, verified

