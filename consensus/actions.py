"""What the consensus core asks of its runtime, as actions, and in what order.

ORDERING CONTRACT: the core returns a list of actions; the runtime carries them
out strictly in list order, and a ``PersistSignState`` must be durable (fsync'd
to the home's ``sign_state``) BEFORE any later action in the same list is
carried out: persist BEFORE send. ``Commit`` must be durable (block, certificate,
results and state in one atomic batch) before the runtime feeds the core any
further event.
"""
from __future__ import annotations

from dataclasses import dataclass

from chain.block import Block
from chain.votes import CommitCertificate

TIMER_VIEW = "view"
TIMER_PROPOSE = "propose"
TIMER_RESEND = "resend"


@dataclass(frozen=True, slots=True)
class PersistSignState:
    """Write ``state`` (SignState.encode()) durably. Persist BEFORE send: nothing
    after this action in the list may happen until it is on disk."""

    state: bytes


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``payload`` to every other validator. Only after earlier PersistSignState."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``payload`` to one validator. Only after earlier PersistSignState."""

    to: bytes
    payload: bytes


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call ``on_timer(kind, height, view, now)`` after ``delay_ms``; replaces any
    timer of the same kind."""

    kind: str
    height: int
    view: int
    delay_ms: int


@dataclass(frozen=True, slots=True)
class BuildProposal:
    """Ask the application for a block; answer with ``on_proposal_built``."""

    height: int
    view: int
    prev_hash: bytes
    time_ms: int
    evidence: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Execute:
    """Validate and execute ``block`` on top of the committed state (without
    committing); answer with ``on_block_validated(block_hash, ok)``."""

    block: Block


@dataclass(frozen=True, slots=True)
class Commit:
    """Persist block, certificate, results and state atomically."""

    block: Block
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class RequestSync:
    """A valid certificate shows the chain reached ``certificate.height``; fetch
    committed blocks from ``from_height`` and feed them with ``on_synced_block``."""

    from_height: int
    certificate: CommitCertificate


Action = PersistSignState | Broadcast | Send | SetTimer | BuildProposal | Execute | Commit | RequestSync
