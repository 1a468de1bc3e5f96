"""Consensus messages on the wire (docs/protocol.md section 10).

Every message is a frozen dataclass with a canonical encoding
``pack([kind, body])`` and a signature under its own domain (chain.signing):
``proposal`` for PRE-PREPARE, ``vote`` for PREPARE/COMMIT (chain.votes),
``view-change`` and ``new-view``. ``decode_message`` turns a peer's bytes into
a message or raises ``ConsensusError``; it never raises anything else. It
checks structure and sizes only; signer membership, then signatures, are
checked by ``verify_*`` in that order (membership first, docs/protocol.md section 10).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chain.block import Block, block_encoding_bytes_max, block_from_list, check_block_body
from chain.constants import (EVIDENCE_BYTES_MAX, HASH_BYTES, MAX_UINT64, PHASE_PREPARE, PUBLIC_KEY_BYTES, SIGNATURE_BYTES,
                             VOTE_PHASES)
from chain.encoding import pack, unpack
from chain.errors import CertificateError, CodedError
from chain.hashing import sha256
from chain.keys import KeyPair, Verify, verify_signature
from chain.signing import sign_fields, verify_fields
from chain.validators import ValidatorSet
from chain.votes import (SIGNATURE_ENTRY_BYTES_MAX, CommitCertificate, Vote, certificate_from_map, sign_vote, signatures_from_list,
                         verify_vote_quorum)


class ConsensusError(CodedError):
    """A consensus message or evidence record that is malformed or does not verify."""


def _malformed(what: str) -> ConsensusError:
    return ConsensusError("consensus.malformed", what)


def _uint(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise _malformed(f"{name} must be a non-negative integer")
    return value


def _bytes(value: Any, size: int, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise _malformed(f"{name} must be {size} bytes")
    return value


def _list(value: Any, size: int | None, name: str) -> list:
    if not isinstance(value, list) or (size is not None and len(value) != size):
        raise _malformed(f"{name} must be a list" + (f" of {size}" if size is not None else ""))
    return value


def _certificate_error(error: CertificateError, what: str) -> ConsensusError:
    """A certificate rule of chain.votes, broken inside a consensus message, in consensus's terms."""
    return ConsensusError(error.code.replace("cert.", "consensus.", 1), f"{what}: {error.message}")


def _block(value: Any) -> Block:
    try:
        return block_from_list(value)
    except CodedError as error:
        raise ConsensusError("consensus.bad_block", error.message) from None


def _check_block_body(block: Block) -> None:
    try:
        check_block_body(block)
    except CodedError as error:
        raise ConsensusError("consensus.bad_block", error.message) from None


# -- votes (PREPARE / COMMIT) ----------------------------------------------------

def vote_to_list(vote: Vote) -> list:
    return [vote.phase, vote.height, vote.view, vote.block_hash, vote.validator, vote.signature]


def vote_from_list(value: Any) -> Vote:
    v = _list(value, 6, "a vote")
    if v[0] not in VOTE_PHASES:
        raise _malformed("vote phase must be prepare or commit")
    return Vote(v[0], _uint(v[1], "height"), _uint(v[2], "view"), _bytes(v[3], HASH_BYTES, "block_hash"),
                _bytes(v[4], PUBLIC_KEY_BYTES, "validator"), _bytes(v[5], SIGNATURE_BYTES, "signature"))


def check_vote(vote: Vote, validators: ValidatorSet, chain_id: str, verify: Verify = verify_signature) -> None:
    if vote.validator not in validators:
        raise ConsensusError("consensus.unknown_signer", "the vote's signer is not a validator of this chain")
    if not vote.verify(chain_id, verify=verify):
        raise ConsensusError("consensus.bad_signature", "the vote's signature does not verify")


# -- prepared certificate --------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PreparedCertificate:
    """A quorum of PREPAREs from distinct validators for one (height, view, hash)."""

    height: int
    view: int
    block_hash: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    def to_list(self) -> list:
        return [self.height, self.view, self.block_hash, [[k, s] for k, s in self.signatures]]

    @classmethod
    def from_list(cls, value: Any, max_votes: int) -> "PreparedCertificate":
        v = _list(value, 4, "a prepared certificate")
        try:
            signatures = signatures_from_list(v[3], max_votes)
        except CertificateError as error:
            raise _certificate_error(error, "a prepared certificate") from None
        return cls(_uint(v[0], "height"), _uint(v[1], "view"), _bytes(v[2], HASH_BYTES, "block_hash"), signatures)

    def verify(self, validators: ValidatorSet, chain_id: str, verify: Verify = verify_signature) -> None:
        try:
            verify_vote_quorum(self.signatures, validators, chain_id, PHASE_PREPARE, self.height, self.view, self.block_hash,
                               verify=verify)
        except CertificateError as error:
            raise _certificate_error(error, "a prepared certificate") from None


# -- PRE-PREPARE -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Proposal:
    """PRE-PREPARE(h, v, block) from primary(h, v); carries the primary's PREPARE."""

    height: int
    view: int
    block: Block
    signer: bytes
    signature: bytes
    prepare_signature: bytes

    def to_list(self) -> list:
        return [self.height, self.view, self.block.to_list(), self.signer, self.signature, self.prepare_signature]

    @classmethod
    def from_list(cls, value: Any) -> "Proposal":
        v = _list(value, 6, "a proposal")
        return cls(_uint(v[0], "height"), _uint(v[1], "view"), _block(v[2]), _bytes(v[3], PUBLIC_KEY_BYTES, "signer"),
                   _bytes(v[4], SIGNATURE_BYTES, "signature"), _bytes(v[5], SIGNATURE_BYTES, "prepare_signature"))

    def prepare_vote(self) -> Vote:
        return Vote(PHASE_PREPARE, self.height, self.view, self.block.hash(), self.signer, self.prepare_signature)

    def verify(self, validators: ValidatorSet, chain_id: str, verify: Verify = verify_signature) -> None:
        if self.signer != validators.primary(self.height, self.view):
            raise ConsensusError("consensus.not_primary", "a proposal must come from the primary of its height and view")
        if self.block.header.height != self.height or self.block.header.chain_id != chain_id:
            raise ConsensusError("consensus.bad_block", "the block's height or chain id differs from the proposal's")
        _check_block_body(self.block)
        block_hash = self.block.hash()
        if not verify_fields(self.signer, "proposal", [chain_id, self.height, self.view, block_hash], self.signature, verify=verify):
            raise ConsensusError("consensus.bad_signature", "the proposal's signature does not verify")
        if not self.prepare_vote().verify(chain_id, verify=verify):
            raise ConsensusError("consensus.bad_signature", "the primary's PREPARE in the proposal does not verify")


def sign_proposal(key: KeyPair, chain_id: str, height: int, view: int, block: Block) -> Proposal:
    h = block.hash()
    return Proposal(height, view, block, key.public_key, sign_fields(key, "proposal", [chain_id, height, view, h]),
                    sign_vote(key, chain_id, PHASE_PREPARE, height, view, h).signature)


# -- VIEW-CHANGE -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ViewChange:
    """VIEW-CHANGE(h, v', highest prepared certificate at h, its block)."""

    height: int
    view: int
    prepared: PreparedCertificate | None
    block: Block | None
    validator: bytes
    signature: bytes

    def signed_fields(self, chain_id: str) -> list:
        return [chain_id, self.height, self.view, [] if self.prepared is None else self.prepared.to_list()]

    def to_list(self) -> list:
        return [self.height, self.view, [] if self.prepared is None else self.prepared.to_list(),
                [] if self.block is None else self.block.to_list(), self.validator, self.signature]

    def without_block(self) -> "ViewChange":
        """As a NEW-VIEW carries it: the signature does not cover the block,
        and the NEW-VIEW's proposal carries the one block re-proposed."""
        return replace(self, block=None)

    @classmethod
    def from_list(cls, value: Any, max_votes: int, with_block: bool = True) -> "ViewChange":
        """``with_block`` False: one carried inside a NEW-VIEW, which never has its block."""
        v = _list(value, 6, "a view change")
        prepared = None if v[2] == [] else PreparedCertificate.from_list(v[2], max_votes)
        block = None if v[3] == [] else _block(v[3])
        if with_block and (prepared is None) != (block is None):
            raise _malformed("a view change carries a prepared certificate and its block, or neither")
        if not with_block and block is not None:
            raise _malformed("a view change inside a new view carries no block (the proposal carries the one re-proposed)")
        return cls(_uint(v[0], "height"), _uint(v[1], "view"), prepared, block,
                   _bytes(v[4], PUBLIC_KEY_BYTES, "validator"), _bytes(v[5], SIGNATURE_BYTES, "signature"))

    def verify(self, validators: ValidatorSet, chain_id: str, verify: Verify = verify_signature,
               with_block: bool = True) -> None:
        if self.validator not in validators:
            raise ConsensusError("consensus.unknown_signer", "the view change's signer is not a validator of this chain")
        if self.prepared is not None:
            if self.prepared.height != self.height or self.prepared.view >= self.view:
                raise ConsensusError("consensus.bad_prepared", "a carried prepared certificate must be for this height and a lower view")
            if with_block:
                if self.block is None or self.block.hash() != self.prepared.block_hash:
                    raise ConsensusError("consensus.bad_prepared", "the carried block does not match the prepared hash")
                _check_block_body(self.block)
        if not verify_fields(self.validator, "view-change", self.signed_fields(chain_id), self.signature, verify=verify):
            raise ConsensusError("consensus.bad_signature", "the view change's signature does not verify")
        if self.prepared is not None:
            self.prepared.verify(validators, chain_id, verify=verify)


def sign_view_change(key: KeyPair, chain_id: str, height: int, view: int,
                     prepared: PreparedCertificate | None, block: Block | None) -> ViewChange:
    unsigned = ViewChange(height, view, prepared, block, key.public_key, b"\0" * SIGNATURE_BYTES)
    sig = sign_fields(key, "view-change", unsigned.signed_fields(chain_id))
    return ViewChange(height, view, prepared, block, key.public_key, sig)


# -- NEW-VIEW --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewView:
    """NEW-VIEW(h, v'): a quorum of VIEW-CHANGEs for exactly (h, v') and a
    PRE-PREPARE. The view changes come without their blocks: the proposal
    carries the one block re-proposed (with a block copy in each, a full
    block made a NEW-VIEW larger than a frame, and the height could never
    leave its view)."""

    height: int
    view: int
    view_changes: tuple[ViewChange, ...]
    proposal: Proposal
    validator: bytes
    signature: bytes

    def signed_fields(self, chain_id: str) -> list:
        return [chain_id, self.height, self.view, [vc.signature for vc in self.view_changes], self.proposal.signature]

    def to_list(self) -> list:
        return [self.height, self.view, [vc.to_list() for vc in self.view_changes], self.proposal.to_list(),
                self.validator, self.signature]

    @classmethod
    def from_list(cls, value: Any, max_votes: int) -> "NewView":
        v = _list(value, 6, "a new view")
        vcs = _list(v[2], None, "view changes")
        if len(vcs) > max_votes:
            raise ConsensusError("consensus.too_many_votes", "a new view carries more view changes than validators")
        return cls(_uint(v[0], "height"), _uint(v[1], "view"),
                   tuple(ViewChange.from_list(x, max_votes, with_block=False) for x in vcs),
                   Proposal.from_list(v[3]), _bytes(v[4], PUBLIC_KEY_BYTES, "validator"),
                   _bytes(v[5], SIGNATURE_BYTES, "signature"))

    def verify(self, validators: ValidatorSet, chain_id: str, verify: Verify = verify_signature) -> None:
        """Every check of docs/protocol.md section 10, membership and sizes before signatures."""
        if self.validator != validators.primary(self.height, self.view):
            raise ConsensusError("consensus.not_primary", "a new view must come from the primary of its view")
        if len(self.view_changes) > len(validators):
            raise ConsensusError("consensus.too_many_votes", "a new view carries more view changes than validators")
        seen: set[bytes] = set()
        for vc in self.view_changes:
            if vc.validator not in validators:
                raise ConsensusError("consensus.unknown_signer", "a view change in the new view is from a non-validator")
            if vc.validator in seen:
                raise ConsensusError("consensus.duplicate_signer", "a new view counts one validator's view change twice")
            seen.add(vc.validator)
            if (vc.height, vc.view) != (self.height, self.view):
                raise ConsensusError("consensus.bad_new_view", "every view change must be for exactly the new view's height and view")
        if len(seen) < validators.quorum:
            raise ConsensusError("consensus.no_quorum", "a new view needs a quorum of distinct view changes")
        if (self.proposal.height, self.proposal.view) != (self.height, self.view):
            raise ConsensusError("consensus.bad_new_view", "the new view's proposal must be for its height and view")
        if not verify_fields(self.validator, "new-view", self.signed_fields(chain_id), self.signature, verify=verify):
            raise ConsensusError("consensus.bad_signature", "the new view's signature does not verify")
        for vc in self.view_changes:
            vc.verify(validators, chain_id, verify=verify, with_block=False)
        self.proposal.verify(validators, chain_id, verify=verify)
        best = highest_prepared(self.view_changes)
        if best is not None:
            if self.proposal.block.hash() != best.prepared.block_hash:
                raise ConsensusError("consensus.bad_new_view", "the new view must re-propose the block prepared in the highest view")
            proposer = self.proposal.block.header.proposer
            first_views = range(min(best.prepared.view, len(validators) - 1) + 1)  # primaries repeat every n views
            if not any(validators.primary(self.height, v0) == proposer for v0 in first_views):
                raise ConsensusError("consensus.bad_new_view", "a re-proposed block keeps the proposer of its first view")
        elif self.proposal.block.header.proposer != self.validator:
            raise ConsensusError("consensus.bad_new_view", "with nothing prepared the new primary proposes a fresh block of its own")


# A proposal's fields beside its block, and a view change's beside its
# prepared certificate's signatures (heights, views, hashes, keys,
# signatures, the message's kind, their headers), bounded from above.
_PROPOSAL_FIELDS_BYTES = 512
_VIEW_CHANGE_FIELDS_BYTES = 256


def new_view_bytes_max(block_bytes_max: int, block_txs_max: int, validators: int) -> int:
    """The most bytes a NEW-VIEW can take (the largest consensus message): a
    proposal of one block within the chain's caps, and a view change from
    each validator, each with a prepared certificate of one signature a
    validator. A node whose frame cap is smaller could be stuck in a view."""
    return (block_encoding_bytes_max(block_bytes_max, block_txs_max) + _PROPOSAL_FIELDS_BYTES
            + validators * (validators * SIGNATURE_ENTRY_BYTES_MAX + _VIEW_CHANGE_FIELDS_BYTES))


def highest_prepared(view_changes: tuple[ViewChange, ...] | list[ViewChange]) -> ViewChange | None:
    best = None
    for vc in view_changes:
        if vc.prepared is not None and (best is None or vc.prepared.view > best.prepared.view):
            best = vc
    return best


def sign_new_view(key: KeyPair, chain_id: str, height: int, view: int,
                  view_changes: tuple[ViewChange, ...], proposal: Proposal) -> NewView:
    carried = tuple(vc.without_block() for vc in view_changes)
    unsigned = NewView(height, view, carried, proposal, key.public_key, b"\0" * SIGNATURE_BYTES)
    return NewView(height, view, carried, proposal, key.public_key,
                   sign_fields(key, "new-view", unsigned.signed_fields(chain_id)))


# -- evidence --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Evidence:
    """Two votes of one validator for one (height, view, phase) with different hashes.

    Canonical: the vote with the smaller block hash first; id = SHA-256 of the encoding.
    """

    first: Vote
    second: Vote

    @classmethod
    def of(cls, a: Vote, b: Vote) -> "Evidence":
        return cls(a, b) if a.block_hash < b.block_hash else cls(b, a)

    def to_list(self) -> list:
        return [vote_to_list(self.first), vote_to_list(self.second)]

    def encode(self) -> bytes:
        return pack(self.to_list())

    @property
    def id(self) -> bytes:
        return sha256(self.encode())

    @property
    def height(self) -> int:
        return self.first.height


def decode_evidence(raw: bytes) -> Evidence:
    try:
        value = unpack(raw, EVIDENCE_BYTES_MAX)
    except CodedError as error:
        raise _malformed(f"evidence bytes are not canonical ({error.code})") from None
    return _evidence_from_list(value)


def _evidence_from_list(value: Any) -> Evidence:
    v = _list(value, 2, "evidence")
    ev = Evidence(vote_from_list(v[0]), vote_from_list(v[1]))
    if ev.first.block_hash >= ev.second.block_hash:
        raise ConsensusError("consensus.bad_evidence", "evidence lists its votes by increasing block hash, hashes differing")
    return ev


def verify_evidence(ev: Evidence, validators: ValidatorSet, chain_id: str, committed_height: int, max_age: int,
                    verify: Verify = verify_signature) -> None:
    """Membership first, then the rule, the height bounds, then signatures."""
    a, b = ev.first, ev.second
    if a.validator not in validators or b.validator != a.validator:
        raise ConsensusError("consensus.unknown_signer", "evidence must name one validator of this chain")
    if (a.phase, a.height, a.view) != (b.phase, b.height, b.view) or a.block_hash == b.block_hash:
        raise ConsensusError("consensus.bad_evidence", "evidence is two votes for one height, view and phase with different hashes")
    if a.height > committed_height + 1 or a.height + max_age < committed_height + 1:
        raise ConsensusError("consensus.evidence_out_of_range", "evidence is for a height not yet reached or too old")
    if not a.verify(chain_id, verify=verify) or not b.verify(chain_id, verify=verify):
        raise ConsensusError("consensus.bad_signature", "a vote in the evidence does not verify")


# -- the envelope ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CertificateMessage:
    """A commit certificate sent to a validator still at that height (so it syncs)."""

    certificate: CommitCertificate

    @property
    def height(self) -> int:
        return self.certificate.height

    @property
    def view(self) -> int:
        return self.certificate.view


Message = Proposal | Vote | ViewChange | NewView | Evidence | CertificateMessage


def encode_message(message: Message) -> bytes:
    if isinstance(message, Proposal):
        return pack(["proposal", message.to_list()])
    if isinstance(message, Vote):
        return pack(["vote", vote_to_list(message)])
    if isinstance(message, ViewChange):
        return pack(["view-change", message.to_list()])
    if isinstance(message, NewView):
        return pack(["new-view", message.to_list()])
    if isinstance(message, CertificateMessage):
        return pack(["certificate", message.certificate.to_map()])
    if isinstance(message, Evidence):
        return pack(["evidence", message.to_list()])
    raise TypeError(f"not a consensus message: {message!r}")


class MessageDecoder:
    """``decode_message`` with its answers remembered by the bytes (bounded;
    cleared when full): decoding is a pure function of the bytes, so a
    remembered answer is the answer, a refusal included. A node keeps a few
    for the resends it hears again; simulated replicas in one process share
    one, as they share one signature verifier."""

    def __init__(self, max_votes: int, max_bytes: int, capacity: int) -> None:
        self._max_votes = max_votes
        self._max_bytes = max_bytes
        self._capacity = capacity
        self._answers: dict[bytes, Message | ConsensusError] = {}

    def __call__(self, raw: bytes) -> Message:
        answer = self._answers.get(raw)
        if answer is None:
            try:
                answer = decode_message(raw, self._max_votes, self._max_bytes)
            except ConsensusError as error:
                answer = error
            if len(self._answers) >= self._capacity:
                self._answers.clear()
            self._answers[raw] = answer
        if isinstance(answer, ConsensusError):
            raise ConsensusError(answer.code, answer.message)
        return answer


def decode_message(raw: bytes, max_votes: int, max_bytes: int) -> Message:
    """Decode a peer's bytes; raises ConsensusError only."""
    try:
        value = unpack(raw, max_bytes)
    except CodedError as error:
        raise _malformed(f"message bytes are not canonical ({error.code})") from None
    except Exception:  # noqa: BLE001 - the boundary turns every decoder failure into one coded error
        raise _malformed("message bytes are not canonical") from None
    v = _list(value, 2, "a message")
    kind, body = v
    if kind == "proposal":
        return Proposal.from_list(body)
    if kind == "vote":
        return vote_from_list(body)
    if kind == "view-change":
        return ViewChange.from_list(body, max_votes)
    if kind == "new-view":
        return NewView.from_list(body, max_votes)
    if kind == "evidence":
        return _evidence_from_list(body)
    if kind == "certificate":
        try:
            return CertificateMessage(certificate_from_map(body, max_votes))
        except CertificateError as error:
            raise _certificate_error(error, "a commit certificate") from None
    raise ConsensusError("consensus.unknown_kind", "unknown consensus message kind")
