"""The PBFT replica: every state transition of docs/protocol.md section 10, in one file.

Theory of operation
-------------------
One PBFT instance runs per height. A ``Replica`` is a pure object: the runtime
feeds it events (``start``, ``on_message``, ``on_timer``,
``on_proposal_built``, ``on_block_validated``, ``on_commit_certificate``,
``on_synced_block``) carrying the time ``now_ms``, and it answers with a
list of actions (consensus.actions) that the runtime carries out in order;
a ``PersistSignState`` is durable before anything after it happens (persist
BEFORE send). The core has no clock, socket, task or
randomness, and never executes a transaction: it asks with ``BuildProposal``
and ``Execute`` and learns the answer from an event.

Normal case at (h, v): the primary ``validators[(h+v) % n]`` gets a
``propose`` timer (``empty_block_interval_ms``), asks for a block, and
broadcasts PRE-PREPARE carrying its own PREPARE. A replica accepts one per
(h, v) (prev hash, proposer, strictly increasing time no more than
``max_clock_drift_ms`` ahead of its clock), asks the runtime to execute it,
and once told it is valid signs PREPARE. With a quorum of distinct PREPAREs
for the accepted hash it is prepared: the prepared certificate and the COMMIT
go into the signing state, persisted, then COMMIT leaves. A quorum of COMMITs
for a hash whose block it holds commits (``Commit`` with a CommitCertificate);
without the block it asks for sync.

View change: a ``view`` timer per (h, v) of ``view_timeout_ms * 2**v``, reset
only on progress (a new height or a new view entered). On expiry it persists,
then sends VIEW-CHANGE(h, v+1, highest prepared certificate at h and its
block); from then on it signs no PREPARE or COMMIT below v+1 (the floor lives
in the signing state). The timer of v+1 runs only once a quorum asked for v+1
or above (``_record_view_change``). f+1 distinct validators asking for higher
views make it join the lowest of them. The primary of v' with a quorum of VIEW-CHANGEs
for exactly (h, v') sends NEW-VIEW: re-proposing the block of the highest
prepared view, or a fresh block built on request. Replicas verify NEW-VIEW
fully (NewView.verify) before preparing in v'.

Safety of signing: ``SignState`` (consensus/sign_state.py, where its rule is
written) keeps the highest height signed at and, for it and the height
below, the view floor, the last PREPARE and COMMIT (view, hash) and the
prepared certificate with its block. Before signing it refuses anything
conflicting with the record of its height or below the floor, and every
signature is preceded by a PersistSignState action. Whenever the replica
reaches a height it holds a record for (a restart, a wiped database, block
sync) it re-enters the view it asked for and keeps its prepared certificate,
so it never signs two different things at one (h, v, phase). Started without
a signing state it abstains until ``Recovery`` says the chain has passed
every height it may have signed at.

Messages for heights up to ``future_heights`` ahead and views up to
``future_views`` ahead are buffered (at most ``buffer_cap``) and replayed
when the replica gets there. COMMITs for future heights are tallied: a quorum
(or a certificate fed by the runtime) for the current height or above yields
``RequestSync``. Two validly signed votes of one validator for one (h, v,
phase) with different hashes become ``Evidence``; pending evidence goes into
``BuildProposal`` (capped per block) and ``pending_evidence()`` lists it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chain.block import Block
from chain.constants import EVIDENCE_MAX_AGE, EVIDENCE_PER_BLOCK_MAX, PHASE_COMMIT, PHASE_PREPARE
from chain.errors import CertificateError
from chain.keys import KeyPair, Verify, verify_signature
from chain.validators import ValidatorSet
from chain.votes import CommitCertificate, Vote, sign_vote, verify_certificate
from consensus.actions import (
    TIMER_PROPOSE, TIMER_RESEND, TIMER_VIEW, Action, Broadcast, BuildProposal, Commit, Execute, PersistSignState, RequestSync, Send,
    SetTimer,
)
from consensus.messages import (
    CertificateMessage, ConsensusError, Evidence, MessageDecoder, NewView, PreparedCertificate, Proposal, ViewChange, check_vote,
    encode_message, highest_prepared, sign_new_view, sign_proposal, sign_view_change, verify_evidence,
)
from consensus.sign_state import HeightSigns, Recovery, SignState


# Decoded consensus messages a replica remembers by their bytes (resends are heard again).
DECODED_MESSAGES_MAX = 4096


@dataclass(frozen=True, slots=True)
class Config:
    chain_id: str
    validators: ValidatorSet
    view_timeout_ms: int = 4000
    empty_block_interval_ms: int = 1000
    max_clock_drift_ms: int = 2000
    future_heights: int = 4
    future_views: int = 8
    buffer_cap: int = 512
    max_evidence_per_block: int = EVIDENCE_PER_BLOCK_MAX
    evidence_max_age: int = EVIDENCE_MAX_AGE
    max_pending_evidence: int = 1024
    max_message_bytes: int = 8 * 1024 * 1024
    resend_ms: int = 0   # > 0: rebroadcast our latest messages of the height this often (lossy links)
    verify: Verify = verify_signature   # every signature check of the replica goes through it
    decoder: MessageDecoder | None = None   # shared by replicas of one process; None: one of its own


def _decode_block(raw: bytes) -> Block:
    from chain.block import decode_block
    return decode_block(raw, 1 << 30)


class Replica:
    def __init__(self, config: Config, key: KeyPair | None, height: int, prev_hash: bytes, last_time_ms: int,
                 sign_state: SignState | None) -> None:
        """``sign_state`` None for a validator (``key`` given) means its file is
        lost: it recovers (``Recovery``) before it signs anything."""
        self.config = config
        self.validators = config.validators
        self.decode = config.decoder or MessageDecoder(len(config.validators), config.max_message_bytes,
                                                       DECODED_MESSAGES_MAX)
        self.key = key
        self.me = None if key is None else key.public_key
        self.height = height
        self.prev_hash = prev_hash
        self.last_time_ms = last_time_ms
        self.committed_height = height - 1
        self.evidence: dict[bytes, Evidence] = {}
        self.future_commits: dict[tuple[int, int, bytes], dict[bytes, bytes]] = {}
        self.sync_requested = 0
        self.buffer: list[tuple[int, int, Any]] = []
        self.view_changes_started = 0
        self.last_certificate: CommitCertificate | None = None
        self.helped: set[bytes] = set()
        self.recovery: Recovery | None = None
        self.stale_sign_state_at: int | None = None   # the height whose certificate showed the file was an older copy
        if key is not None and sign_state is None:
            self.recovery = Recovery(key.public_key, 2 * config.max_clock_drift_ms)
        self.sign_state = sign_state if sign_state is not None else SignState(config.chain_id, self.me or b"")
        self._reset_height()

    def retime(self, view_timeout_ms: int, empty_block_interval_ms: int, max_clock_drift_ms: int) -> None:
        """The chain's timing parameters moved (``params.update``, committed):
        timers armed and proposals checked from now on use the new values."""
        self.config = replace(self.config, view_timeout_ms=view_timeout_ms, empty_block_interval_ms=empty_block_interval_ms,
                              max_clock_drift_ms=max_clock_drift_ms)

    # -- public queries ---------------------------------------------------------------

    def pending_evidence(self) -> list[Evidence]:
        return sorted(self.evidence.values(), key=lambda e: (e.height, e.id))

    @property
    def primary(self) -> bytes:
        return self.validators.primary(self.height, self.view)

    # -- event entry points -----------------------------------------------------------

    def start(self, now_ms: int) -> list[Action]:
        """First event after construction (and after a restart)."""
        if self.recovery is not None:
            # a clock behind the chain's must not make an old block look new
            self.recovery.start(max(now_ms, self.last_time_ms))
        return self._enter_timers() + self._resume_view_change(now_ms)

    def _resume_view_change(self, now_ms: int) -> list[Action]:
        """Entering a height in a view change (after a restart, or reaching by
        commit or sync a height whose record shows one, as after a lost
        write), broadcast again the VIEW-CHANGE that went out before (kept for
        resending, as any message of the height). Its content is the record's prepared certificate and block,
        unchanged since it was signed while the record shows no PREPARE or
        COMMIT in that view or above; Ed25519 signs deterministically, so
        the bytes are the very same and nothing new is signed. Without it the
        others may never gather a quorum for that view: the first copy can
        have been lost, and the view timer's doubling then outlasts the fault."""
        state = self.signed
        if (not self.in_view_change or self.me is None or not self.may_sign()
                or any(vote is not None and vote[0] >= self.view for vote in (state.prepare, state.commit))):
            return []
        vc = sign_view_change(self.key, self.config.chain_id, self.height, self.view, state.prepared, self._prepared_block())
        return ([self._broadcast("view-change", encode_message(vc))] + self._record_view_change(vc)
                + self._maybe_new_view(self.view, now_ms))

    def on_message(self, raw: bytes, now_ms: int) -> list[Action]:
        """A peer's bytes. Bad bytes are dropped (the error is raised to nobody)."""
        try:
            message = self.decode(raw)
        except ConsensusError:
            return []
        return self._handle(message, now_ms)

    def on_timer(self, kind: str, height: int, view: int, now_ms: int) -> list[Action]:
        if kind == TIMER_RESEND:
            if height != self.height or not self.config.resend_ms:
                return []
            # the same bytes again (nothing newly signed): recovers lost messages
            out: list[Action] = [Broadcast(raw) for raw in self.outbox.values()]
            return out + [SetTimer(TIMER_RESEND, self.height, 0, self.config.resend_ms)]
        if height != self.height or view != self.view:
            return []
        if kind == TIMER_VIEW:
            if self._waiting_for_view_change():
                return []   # it runs again once a quorum asks for this view or above (_record_view_change)
            return self._start_view_change(self.view + 1, now_ms)
        if (kind == TIMER_PROPOSE and self.me == self.primary and not self.in_view_change and self.view not in self.proposals
                and self.may_sign()):
            return [self._build_request(now_ms)]
        return []

    def on_proposal_built(self, block: Block, now_ms: int) -> list[Action]:
        if self.me is None or self.me != self.primary or block.height != self.height or self.view in self.proposals:
            return []
        if self.pending_new_view == self.view:
            self.pending_new_view = None
            return self._send_new_view(block, now_ms)
        if self.in_view_change:
            return []
        proposal = sign_proposal(self.key, self.config.chain_id, self.height, self.view, block)
        out = self._persist_prepare(proposal.view, block.hash())
        if out is None:
            return []
        self._accept_proposal(proposal, validated=True)
        out.append(self._broadcast("proposal", encode_message(proposal)))
        return out + self._check_prepared(now_ms)

    def on_block_validated(self, block_hash: bytes, ok: bool, now_ms: int) -> list[Action]:
        if self.validated.get(block_hash, False) is not None:
            return []
        self.validated[block_hash] = ok
        proposal = self.proposals.get(self.view)
        if not ok or proposal is None or proposal.block.hash() != block_hash or self.in_view_change or self.me is None:
            return []
        out = self._sign_and_send(PHASE_PREPARE, self.view, block_hash)
        return out + self._check_prepared(now_ms)

    def on_commit_certificate(self, certificate: CommitCertificate, now_ms: int) -> list[Action]:
        """A certificate from a peer (gossip, a status message, block sync)."""
        if certificate.height < self.height:
            return []
        try:
            verify_certificate(certificate, self.validators, self.config.chain_id, verify=self.config.verify)
        except CertificateError:
            return []
        return self._certified(certificate, now_ms)

    def on_synced_block(self, block: Block, certificate: CommitCertificate, now_ms: int) -> list[Action]:
        """The runtime checked, executed and persisted a synced block at our height."""
        if block.height != self.height:
            return []
        try:
            verify_certificate(certificate, self.validators, self.config.chain_id, self.height, block.hash(),
                               verify=self.config.verify)
        except CertificateError:
            return []
        return self._advance(block, certificate, now_ms)

    # -- internals: height and view bookkeeping -------------------------------------------

    def may_sign(self) -> bool:
        """Whether the signing floor (and a recovery under way) lets this
        validator sign anything at the current height."""
        return (self.me is not None and self.sign_state.may_sign_at(self.height)
                and (self.recovery is None or self.recovery.may_sign_at(self.height)))

    def _reset_height(self) -> None:
        """Enter ``self.height`` with the record kept for it, if any."""
        signed = self.sign_state.record(self.height) or HeightSigns(self.height)
        self.signed = signed
        self.view = signed.view_floor
        self.in_view_change = signed.view_floor > 0
        self.proposals: dict[int, Proposal] = {}
        self.blocks: dict[bytes, Block] = {}
        self.validated: dict[bytes, bool | None] = {}
        self.votes: dict[tuple[str, int, bytes], dict[bytes, bytes]] = {}
        self.seen_votes: dict[tuple[str, int, bytes], Vote] = {}
        self.vcs: dict[int, dict[bytes, ViewChange]] = {}
        self.pending_new_view: int | None = None
        self.new_views_sent: set[int] = set()
        self.new_view_raw: dict[int, bytes] = {}
        self.outbox: dict[str, bytes] = {}
        self.new_view_resent: set[bytes] = set()
        if signed.prepared_block is not None:
            block = _decode_block(signed.prepared_block)
            self.blocks[block.hash()] = block

    def _broadcast(self, slot: str, raw: bytes) -> Broadcast:
        """Broadcast our own signed message and keep it (per slot) for resending."""
        self.outbox[slot] = raw
        return Broadcast(raw)

    def _prepared_block(self) -> Block | None:
        raw = self.signed.prepared_block
        return None if raw is None else _decode_block(raw)

    def _timeout(self, view: int) -> int:
        return self.config.view_timeout_ms * (2 ** min(view, 20))

    def _enter_timers(self) -> list[Action]:
        out: list[Action] = [SetTimer(TIMER_VIEW, self.height, self.view, self._timeout(self.view))]
        if self.me is not None and self.me == self.primary and not self.in_view_change and self.view == 0:
            out.append(SetTimer(TIMER_PROPOSE, self.height, self.view, self.config.empty_block_interval_ms))
        if self.config.resend_ms:
            out.append(SetTimer(TIMER_RESEND, self.height, 0, self.config.resend_ms))
        return out

    def _build_request(self, now_ms: int) -> BuildProposal:
        evidence = tuple(e.encode() for e in self.pending_evidence()[: self.config.max_evidence_per_block])
        return BuildProposal(self.height, self.view, self.prev_hash, max(now_ms, self.last_time_ms + 1), evidence)

    def _advance(self, block: Block, certificate: CommitCertificate, now_ms: int) -> list[Action]:
        if self.recovery is None and self.me is not None and self.sign_state.contradicted_by(certificate):
            # An older copy of the file (put back, or a twin's): what this key
            # signed above its floor is unknown, so recover as without a file.
            self.recovery = Recovery(self.me, 2 * self.config.max_clock_drift_ms)
            self.recovery.start(max(now_ms, self.last_time_ms))
            self.stale_sign_state_at = certificate.height
        if self.recovery is not None:
            self.recovery.learn(certificate, block.header.time_ms)
        self.committed_height = self.height
        self.prev_hash = block.hash()
        self.last_time_ms = block.header.time_ms
        self.height += 1
        included = set(block.evidence)
        self.evidence = {i: e for i, e in self.evidence.items()
                         if e.encode() not in included and e.height + self.config.evidence_max_age >= self.height}
        self.future_commits = {k: v for k, v in self.future_commits.items() if k[0] >= self.height}
        self._reset_height()
        out = self._enter_timers() + self._resume_view_change(now_ms)
        return out + self._replay(now_ms)

    def _replay(self, now_ms: int) -> list[Action]:
        ready = [m for (h, v, m) in self.buffer if h == self.height and v <= self.view]
        self.buffer = [(h, v, m) for (h, v, m) in self.buffer if h > self.height or (h == self.height and v > self.view)]
        out: list[Action] = []
        for message in ready:
            out += self._handle(message, now_ms)
        return out

    def _buffer(self, height: int, view: int, message: Any) -> None:
        if len(self.buffer) < self.config.buffer_cap:
            self.buffer.append((height, view, message))

    # -- internals: message dispatch ----------------------------------------------------

    def _handle(self, message: Any, now_ms: int) -> list[Action]:
        if isinstance(message, Evidence):
            return self._on_evidence(message)
        if isinstance(message, CertificateMessage):
            return self.on_commit_certificate(message.certificate, now_ms)
        height, view = message.height, message.view
        if height < self.height:
            return self._help_lagging(message)
        if height > self.height:
            if height > self.height + self.config.future_heights:
                return []
            if isinstance(message, Vote) and message.phase == PHASE_COMMIT:
                return self._future_commit(message, now_ms)
            self._buffer(height, view, message)
            return []
        if view > self.view + self.config.future_views:
            return []
        try:
            if isinstance(message, Vote):
                return self._on_vote(message, now_ms)
            if isinstance(message, Proposal):
                if view > self.view:
                    self._buffer(height, view, message)
                    return []
                return self._on_proposal(message, now_ms)
            if isinstance(message, ViewChange):
                return self._on_view_change(message, now_ms)
            if isinstance(message, NewView):
                return self._on_new_view(message, now_ms)
        except ConsensusError:
            return []
        return []

    def _help_lagging(self, message: Any) -> list[Action]:
        """A validator asking for a view change at our last committed height gets
        its certificate (once per validator), so it syncs instead of stalling."""
        sender = getattr(message, "validator", None)
        if (not isinstance(message, ViewChange) or self.last_certificate is None
                or message.height != self.last_certificate.height
                or sender not in self.validators or sender == self.me or sender in self.helped):
            return []
        self.helped.add(sender)
        return [Send(sender, encode_message(CertificateMessage(self.last_certificate)))]

    def _on_evidence(self, evidence: Evidence) -> list[Action]:
        try:
            verify_evidence(evidence, self.validators, self.config.chain_id, self.committed_height, self.config.evidence_max_age,
                            verify=self.config.verify)
        except ConsensusError:
            return []
        self._add_evidence(evidence)
        return []

    def _add_evidence(self, evidence: Evidence) -> None:
        if evidence.id not in self.evidence and len(self.evidence) < self.config.max_pending_evidence:
            self.evidence[evidence.id] = evidence

    # -- votes -----------------------------------------------------------------------

    def _on_vote(self, vote: Vote, now_ms: int) -> list[Action]:
        check_vote(vote, self.validators, self.config.chain_id, verify=self.config.verify)
        self._tally(vote)
        if vote.view != self.view and vote.phase == PHASE_PREPARE:
            return []
        if vote.phase == PHASE_PREPARE:
            return self._check_prepared(now_ms)
        return self._check_committed(vote.view, vote.block_hash, now_ms)

    def _tally(self, vote: Vote) -> None:
        seen_key = (vote.phase, vote.view, vote.validator)
        earlier = self.seen_votes.get(seen_key)
        if earlier is not None and earlier.block_hash != vote.block_hash:
            self._add_evidence(Evidence.of(earlier, vote))
            return
        self.seen_votes[seen_key] = vote
        self.votes.setdefault((vote.phase, vote.view, vote.block_hash), {})[vote.validator] = vote.signature

    def _future_commit(self, vote: Vote, now_ms: int) -> list[Action]:
        try:
            check_vote(vote, self.validators, self.config.chain_id, verify=self.config.verify)
        except ConsensusError:
            return []
        key = (vote.height, vote.view, vote.block_hash)
        if key not in self.future_commits and len(self.future_commits) >= self.config.buffer_cap:
            return []  # bounded: a Byzantine validator cannot grow this without limit
        sigs = self.future_commits.setdefault(key, {})
        sigs[vote.validator] = vote.signature
        if len(sigs) >= self.validators.quorum:
            order = sorted(sigs.items(), key=lambda kv: self.validators.index_of(kv[0]))
            return self._certified(CommitCertificate(vote.height, vote.view, vote.block_hash, tuple(order)), now_ms)
        return []

    def _certified(self, certificate: CommitCertificate, now_ms: int) -> list[Action]:
        if certificate.height == self.height and certificate.block_hash in self.blocks:
            return self._commit(self.blocks[certificate.block_hash], certificate, now_ms)
        if certificate.height >= self.height and certificate.height > self.sync_requested:
            self.sync_requested = certificate.height
            return [RequestSync(self.height, certificate)]
        return []

    def _sign_and_send(self, phase: str, view: int, block_hash: bytes) -> list[Action]:
        """Persist, then broadcast, our vote; [] when the signing state forbids it."""
        out = self._persist_vote(phase, view, block_hash)
        if out is None:
            return []
        vote = sign_vote(self.key, self.config.chain_id, phase, self.height, view, block_hash)
        self._tally(vote)
        out.append(self._broadcast(phase, encode_message(vote)))
        return out

    def _persist_vote(self, phase: str, view: int, block_hash: bytes, **extra: Any) -> list[Action] | None:
        state = self.signed
        if not self.may_sign() or view < state.view_floor or (view == state.view_floor and self.in_view_change):
            return None
        last = state.prepare if phase == PHASE_PREPARE else state.commit
        if last is not None and (last[0] > view or (last[0] == view and last[1] != block_hash)):
            return None
        fields = {"prepare": (view, block_hash)} if phase == PHASE_PREPARE else {"commit": (view, block_hash)}
        fields.update(extra)
        return [self._record(replace(state, **fields))]

    def _record(self, signed: HeightSigns) -> PersistSignState:
        """Adopt ``signed`` as this height's record and ask for it on disk."""
        self.signed = signed
        self.sign_state = self.sign_state.with_record(signed)
        return PersistSignState(self.sign_state.encode())

    def _persist_prepare(self, view: int, block_hash: bytes) -> list[Action] | None:
        return self._persist_vote(PHASE_PREPARE, view, block_hash)

    # -- proposals --------------------------------------------------------------------

    def _check_proposal_rules(self, proposal: Proposal, now_ms: int, reproposal: bool) -> None:
        header = proposal.block.header
        if header.prev_hash != self.prev_hash:
            raise ConsensusError("consensus.bad_block", "the proposal does not extend our last committed block")
        if header.time_ms <= self.last_time_ms:
            raise ConsensusError("consensus.bad_time", "proposer time must be strictly increasing")
        if not reproposal:
            if header.proposer != proposal.signer:
                raise ConsensusError("consensus.bad_block", "a fresh block names its primary as proposer")
            if header.time_ms > now_ms + self.config.max_clock_drift_ms:
                raise ConsensusError("consensus.bad_time", "the proposal's time is too far ahead of our clock")

    def _on_proposal(self, proposal: Proposal, now_ms: int) -> list[Action]:
        if proposal.signer not in self.validators:
            raise ConsensusError("consensus.unknown_signer", "the proposer is not a validator")
        earlier = self.proposals.get(proposal.view)
        if earlier is not None and earlier.block.hash() != proposal.block.hash():
            # an equivocating primary: its two embedded PREPAREs become evidence
            proposal.verify(self.validators, self.config.chain_id, verify=self.config.verify)
            self._tally(proposal.prepare_vote())
            return []
        if proposal.view != self.view or earlier is not None or self.in_view_change:
            return []
        if proposal.view == 0:
            proposal.verify(self.validators, self.config.chain_id, verify=self.config.verify)
            self._check_proposal_rules(proposal, now_ms, reproposal=False)
        else:
            return []  # a proposal in a later view only arrives inside a NEW-VIEW
        return self._accept_proposal(proposal, validated=False) + self._check_prepared(now_ms)

    def _accept_proposal(self, proposal: Proposal, validated: bool) -> list[Action]:
        block_hash = proposal.block.hash()
        self.proposals[proposal.view] = proposal
        self.blocks[block_hash] = proposal.block
        self._tally(proposal.prepare_vote())
        if validated:
            self.validated[block_hash] = True
            return []
        known = self.validated.get(block_hash)
        if known is True and self.me is not None:
            return self._sign_and_send(PHASE_PREPARE, proposal.view, block_hash)
        if known is None and block_hash not in self.validated:
            self.validated[block_hash] = None
            return [Execute(proposal.block)]
        return []

    def _check_prepared(self, now_ms: int) -> list[Action]:
        proposal = self.proposals.get(self.view)
        if proposal is None or self.me is None or self.in_view_change:
            return []
        block_hash = proposal.block.hash()
        sigs = self.votes.get((PHASE_PREPARE, self.view, block_hash), {})
        if self.validated.get(block_hash) is not True or len(sigs) < self.validators.quorum:
            return []
        if self.signed.commit is not None and self.signed.commit[0] >= self.view:
            return self._check_committed(self.view, block_hash, now_ms)
        order = tuple(sorted(sigs.items(), key=lambda kv: self.validators.index_of(kv[0])))
        cert = PreparedCertificate(self.height, self.view, block_hash, order)
        out = self._persist_vote(PHASE_COMMIT, self.view, block_hash, prepared=cert,
                                 prepared_block=proposal.block.encode())
        if out is None:
            return []
        vote = sign_vote(self.key, self.config.chain_id, PHASE_COMMIT, self.height, self.view, block_hash)
        self._tally(vote)
        out.append(self._broadcast(PHASE_COMMIT, encode_message(vote)))
        return out + self._check_committed(self.view, block_hash, now_ms)

    def _check_committed(self, view: int, block_hash: bytes, now_ms: int) -> list[Action]:
        sigs = self.votes.get((PHASE_COMMIT, view, block_hash), {})
        if len(sigs) < self.validators.quorum:
            return []
        order = tuple(sorted(sigs.items(), key=lambda kv: self.validators.index_of(kv[0])))
        certificate = CommitCertificate(self.height, view, block_hash, order)
        if block_hash not in self.blocks:
            return self._certified(certificate, now_ms)
        return self._commit(self.blocks[block_hash], certificate, now_ms)

    def _commit(self, block: Block, certificate: CommitCertificate, now_ms: int) -> list[Action]:
        out: list[Action] = [Commit(block, certificate)]
        self.last_certificate = certificate
        self.helped = set()
        return out + self._advance(block, certificate, now_ms)

    # -- view change ------------------------------------------------------------------

    def _start_view_change(self, new_view: int, now_ms: int) -> list[Action]:
        if new_view <= self.view and self.in_view_change:
            return []
        self.view = new_view
        self.in_view_change = True
        self.view_changes_started += 1
        self.pending_new_view = None
        out: list[Action] = [SetTimer(TIMER_VIEW, self.height, new_view, self._timeout(new_view))]
        if self.me is None:
            return out
        if not self.may_sign():
            return out
        state = self.signed
        vc = sign_view_change(self.key, self.config.chain_id, self.height, new_view, state.prepared, self._prepared_block())
        out += [self._record(replace(state, view_floor=new_view)), self._broadcast("view-change", encode_message(vc))]
        out += self._record_view_change(vc)
        return out + self._maybe_new_view(new_view, now_ms)

    def _asking_from_here(self) -> set[bytes]:
        """The validators that asked for the view we are in or a higher one."""
        return {validator for view, by in self.vcs.items() if view >= self.view for validator in by}

    def _waiting_for_view_change(self) -> bool:
        """Whether we asked for the view we are in and too few others did yet.
        A replica back in a view it cannot ask for again (it voted there
        before a lost write) has its timer run as usual."""
        return (self.in_view_change and self.me in self.vcs.get(self.view, {})
                and len(self._asking_from_here()) < self.validators.quorum)

    def _record_view_change(self, vc: ViewChange) -> list[Action]:
        """Keep a VIEW-CHANGE. The timer of a view being changed to runs only
        once a quorum of validators asked for it or a higher one (PBFT's
        liveness rule, widened to higher views): a replica alone in a view
        waits there for the others instead of leaving it on a timer, while
        replicas behind it climb, so replicas that went through views at
        different paces (a partition, restarts) meet again instead of chasing
        each other with ever longer timers."""
        waiting = self._waiting_for_view_change()
        self.vcs.setdefault(vc.view, {})[vc.validator] = vc
        if waiting and not self._waiting_for_view_change():
            return [SetTimer(TIMER_VIEW, self.height, self.view, self._timeout(self.view))]
        return []

    def _on_view_change(self, vc: ViewChange, now_ms: int) -> list[Action]:
        sent = self.new_view_raw.get(vc.view)
        if sent is not None and vc.validator in self.validators and vc.validator not in self.new_view_resent:
            # a validator that missed our NEW-VIEW gets it again (the same bytes, nothing new signed)
            self.new_view_resent.add(vc.validator)
            return [Send(vc.validator, sent)]
        if vc.view < self.view or (vc.view == self.view and not self.in_view_change and self.view in self.proposals):
            return []
        vc.verify(self.validators, self.config.chain_id, verify=self.config.verify)
        out: list[Action] = self._record_view_change(vc)
        # join: f+1 distinct validators ask for a view above ours
        asking: dict[bytes, int] = {}
        for view, by in self.vcs.items():
            if view > self.view:
                for validator in by:
                    asking[validator] = min(asking.get(validator, view), view)
        if len(asking) >= self.validators.weak_quorum:
            out += self._start_view_change(min(asking.values()), now_ms)
        return out + self._maybe_new_view(vc.view, now_ms)

    def _maybe_new_view(self, view: int, now_ms: int) -> list[Action]:
        if (not self.may_sign() or view != self.view or not self.in_view_change or self.me != self.validators.primary(self.height, view)
                or view in self.new_views_sent or self.pending_new_view == view
                or len(self.vcs.get(view, {})) < self.validators.quorum):
            return []
        best = highest_prepared(list(self.vcs[view].values()))
        if best is not None:
            return self._send_new_view(best.block, now_ms)
        self.pending_new_view = view
        return [self._build_request(now_ms)]

    def _send_new_view(self, block: Block, now_ms: int) -> list[Action]:
        view = self.view
        chosen = tuple(sorted(self.vcs[view].values(), key=lambda vc: self.validators.index_of(vc.validator)))
        best = highest_prepared(chosen)
        if best is not None:
            block = best.block  # a later VIEW-CHANGE may have brought a prepared block
        proposal = sign_proposal(self.key, self.config.chain_id, self.height, view, block)
        new_view = sign_new_view(self.key, self.config.chain_id, self.height, view, chosen, proposal)
        self.in_view_change = False  # the primary enters v' as it sends NEW-VIEW
        out = self._persist_prepare(view, block.hash())
        if out is None:
            self.in_view_change = True
            return []
        self.new_views_sent.add(view)
        self.new_view_raw = {view: encode_message(new_view)}
        self.new_view_resent = set()
        out.append(self._broadcast("proposal", self.new_view_raw[view]))
        out.append(SetTimer(TIMER_VIEW, self.height, view, self._timeout(view)))
        out += self._accept_proposal(proposal, validated=best is None)
        return out + self._check_prepared(now_ms) + self._replay(now_ms)

    def _on_new_view(self, nv: NewView, now_ms: int) -> list[Action]:
        if nv.view < self.view or (nv.view == self.view and self.view in self.proposals) or nv.view == 0:
            return []
        nv.verify(self.validators, self.config.chain_id, verify=self.config.verify)
        self._check_proposal_rules(nv.proposal, now_ms, reproposal=highest_prepared(nv.view_changes) is not None)
        self.view = nv.view
        self.in_view_change = False
        if self.signed.view_floor < nv.view and self.may_sign():
            self.signed = replace(self.signed, view_floor=nv.view)
        reproposed = nv.proposal.block.hash()
        for vc in nv.view_changes:          # out of the view change now: starts no timer
            if vc.prepared is not None and vc.prepared.block_hash == reproposed:
                vc = replace(vc, block=nv.proposal.block)
            if vc.validator not in self.vcs.get(vc.view, {}):   # one received whole keeps its block
                self._record_view_change(vc)
        out: list[Action] = [SetTimer(TIMER_VIEW, self.height, nv.view, self._timeout(nv.view))]
        out += self._accept_proposal(nv.proposal, validated=False)
        return out + self._check_prepared(now_ms) + self._replay(now_ms)
