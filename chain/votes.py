"""Signed votes and commit certificates (docs/protocol.md sections 3 and 8).

A vote signs ``[chain_id, phase, height, view, block_hash]`` under the
``vote`` domain. A commit certificate is a quorum of COMMIT votes from
distinct validators of the set for one (height, view, block hash); a set of
PREPAREs never passes, because their signatures cover another phase.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from chain.constants import HASH_BYTES, MAX_UINT64, PHASE_COMMIT, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, VOTE_PHASES
from chain.encoding import pack, unpack
from chain.errors import CertificateError, DecodeError
from chain.keys import KeyPair, Verify, verify_signature
from chain.signing import signing_bytes
from chain.validators import ValidatorSet

# One validator's signature as a certificate carries it (its key and
# signature, 96 bytes, and their msgpack headers), bounded from above.
SIGNATURE_ENTRY_BYTES_MAX = 128


@lru_cache(maxsize=1024)
def vote_signing_bytes(chain_id: str, phase: str, height: int, view: int, block_hash: bytes) -> bytes:
    """What a vote signs. Every validator's vote for one block in one phase
    signs the same bytes, so the last ones made are remembered."""
    if phase not in VOTE_PHASES:
        raise ValueError(f"unknown vote phase {phase!r}")
    return signing_bytes("vote", [chain_id, phase, height, view, block_hash])


@dataclass(frozen=True, slots=True)
class Vote:
    phase: str
    height: int
    view: int
    block_hash: bytes
    validator: bytes
    signature: bytes

    def verify(self, chain_id: str, verify: Verify = verify_signature) -> bool:
        message = vote_signing_bytes(chain_id, self.phase, self.height, self.view, self.block_hash)
        return verify(self.validator, message, self.signature)


def sign_vote(key: KeyPair, chain_id: str, phase: str, height: int, view: int, block_hash: bytes) -> Vote:
    signature = key.sign(vote_signing_bytes(chain_id, phase, height, view, block_hash))
    return Vote(phase, height, view, block_hash, key.public_key, signature)


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """COMMIT signatures, as (validator, signature) pairs, for one block."""

    height: int
    view: int
    block_hash: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    @classmethod
    def from_votes(cls, votes: Iterable[Vote], validators: ValidatorSet) -> "CommitCertificate":
        """Gather COMMIT votes for one block, one per validator, in set order."""
        votes = list(votes)
        first = votes[0]
        by_validator = {vote.validator: vote.signature for vote in votes}
        if any((v.phase, v.height, v.view, v.block_hash) != (PHASE_COMMIT, first.height, first.view, first.block_hash) for v in votes):
            raise ValueError("a certificate gathers COMMIT votes for one height, view and block")
        ordered = sorted(by_validator.items(), key=lambda pair: validators.index_of(pair[0]))
        return cls(first.height, first.view, first.block_hash, tuple(ordered))

    def to_map(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "view": self.view,
            "block_hash": self.block_hash,
            "votes": [[validator, signature] for validator, signature in self.signatures],
        }

    def encode(self) -> bytes:
        return pack(self.to_map())


def decode_certificate(raw: bytes, max_votes: int) -> CommitCertificate:
    """Decode the structure; ``max_votes`` (the set's size) bounds the vote list
    before anything in it is looked at."""
    try:
        value = unpack(raw)
    except DecodeError as error:
        raise CertificateError("cert.malformed", f"certificate bytes are not canonical ({error.code})") from None
    return certificate_from_map(value, max_votes)


def certificate_from_map(value: Any, max_votes: int) -> CommitCertificate:
    if not isinstance(value, dict) or set(value) != {"height", "view", "block_hash", "votes"}:
        raise CertificateError("cert.malformed", "a certificate is {height, view, block_hash, votes}")
    height, view, block_hash, votes = value["height"], value["view"], value["block_hash"], value["votes"]
    if type(height) is not int or type(view) is not int or not (0 <= height <= MAX_UINT64 and 0 <= view <= MAX_UINT64):
        raise CertificateError("cert.malformed", "certificate height and view are non-negative integers")
    if not isinstance(block_hash, bytes) or len(block_hash) != HASH_BYTES:
        raise CertificateError("cert.malformed", f"certificate block_hash is {HASH_BYTES} bytes")
    return CommitCertificate(height, view, block_hash, signatures_from_list(votes, max_votes))


def signatures_from_list(votes: Any, max_votes: int) -> tuple[tuple[bytes, bytes], ...]:
    """The (validator, signature) pairs of a decoded ``[[validator, signature], ...]``
    (a commit or a prepared certificate's votes); ``max_votes`` bounds the list
    before anything in it is looked at."""
    if not isinstance(votes, list):
        raise CertificateError("cert.malformed", "certificate votes are a list")
    if len(votes) > max_votes:
        raise CertificateError("cert.too_many_votes", f"{len(votes)} votes for a set of {max_votes} validators")
    for vote in votes:
        if (
            not isinstance(vote, list) or len(vote) != 2
            or not isinstance(vote[0], bytes) or len(vote[0]) != PUBLIC_KEY_BYTES
            or not isinstance(vote[1], bytes) or len(vote[1]) != SIGNATURE_BYTES
        ):
            raise CertificateError("cert.malformed", "each vote is [validator public key, signature]")
    return tuple((vote[0], vote[1]) for vote in votes)


def verify_certificate(
    certificate: CommitCertificate,
    validators: ValidatorSet,
    chain_id: str,
    height: int | None = None,
    block_hash: bytes | None = None,
    verify: Verify = verify_signature,
) -> None:
    """Raise CertificateError unless ``certificate`` proves the block committed."""
    if height is not None and certificate.height != height:
        raise CertificateError("cert.mismatch", f"certificate is for height {certificate.height}, not {height}")
    if block_hash is not None and certificate.block_hash != block_hash:
        raise CertificateError("cert.mismatch", "certificate is for another block hash")
    verify_vote_quorum(certificate.signatures, validators, chain_id, PHASE_COMMIT,
                       certificate.height, certificate.view, certificate.block_hash, verify=verify)


def verify_vote_quorum(signatures: tuple[tuple[bytes, bytes], ...], validators: ValidatorSet, chain_id: str,
                       phase: str, height: int, view: int, block_hash: bytes, verify: Verify = verify_signature) -> None:
    """Raise CertificateError unless ``signatures`` are a quorum of distinct
    validators' ``phase`` votes for (height, view, block_hash). Sizes and
    membership are checked before any signature, so padding with strangers
    costs no signature checks."""
    if len(signatures) > len(validators):
        raise CertificateError("cert.too_many_votes", f"{len(signatures)} votes for a set of {len(validators)}")
    seen: set[bytes] = set()
    for validator, _ in signatures:
        if validator not in validators:
            raise CertificateError("cert.unknown_signer", f"{validator.hex()} is not a validator of this chain")
        if validator in seen:
            raise CertificateError("cert.duplicate_signer", f"{validator.hex()} signed twice; count each validator once")
        seen.add(validator)
    if len(seen) < validators.quorum:
        raise CertificateError("cert.no_quorum", f"{len(seen)} distinct signers, a quorum is {validators.quorum}")
    message = vote_signing_bytes(chain_id, phase, height, view, block_hash)
    for validator, signature in signatures:
        if not verify(validator, message, signature):
            raise CertificateError("cert.bad_signature", f"the {phase.upper()} signature of {validator.hex()} does not verify")
