"""The signing floor: what a validator signed, kept so that it never signs twice.

The rule, in one place (docs/protocol.md, "Signing state"):

- ``SignState`` holds the highest height the validator signed anything at
  (the *floor*) and its records for that height and the one just below it.
  Keeping the height below lets a cluster that lost its last block write
  everywhere certify that block again with the very same votes.
- The replica honours a record whenever it is at that height, however it got
  there (a restart, a wiped database, block sync): it signs nothing that
  conflicts with it, and no PREPARE or COMMIT below a view it asked to leave.
- It signs nothing at a height below ``floor - 1``: it kept no record there.
- The file only moves forward (``check_successor``), and it belongs to one
  chain and one validator key (``check_owner``).
- A missing file is not a licence to sign: see ``Recovery``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chain.encoding import pack, unpack
from chain.errors import CodedError
from chain.votes import CommitCertificate
from consensus.messages import PreparedCertificate

FORMAT = "shopchain-sign-state/2"
PREPARED_VOTES_MAX = 1 << 16


class SignStateError(CodedError):
    """A sign_state that must not be used as it is."""


@dataclass(frozen=True, slots=True)
class HeightSigns:
    """What the validator signed at one height."""

    height: int
    view_floor: int = 0            # highest view a VIEW-CHANGE was sent for (0: none)
    prepare: tuple[int, bytes] | None = None
    commit: tuple[int, bytes] | None = None
    prepared: PreparedCertificate | None = None
    prepared_block: bytes | None = None   # Block.encode() of the prepared block

    def to_list(self) -> list:
        return [self.height, self.view_floor, [] if self.prepare is None else list(self.prepare),
                [] if self.commit is None else list(self.commit),
                [] if self.prepared is None else self.prepared.to_list(),
                b"" if self.prepared_block is None else self.prepared_block]

    @classmethod
    def from_list(cls, value: Any) -> "HeightSigns":
        height, floor, prepare, commit, prepared, block = value
        if type(height) is not int or type(floor) is not int or height < 1 or floor < 0:
            raise ValueError("bad height or view floor")
        return cls(height, floor, _view_hash(prepare), _view_hash(commit),
                   PreparedCertificate.from_list(prepared, PREPARED_VOTES_MAX) if prepared else None, block or None)


def _view_hash(value: Any) -> tuple[int, bytes] | None:
    if not value:
        return None
    view, block_hash = value
    if type(view) is not int or not isinstance(block_hash, bytes):
        raise ValueError("a vote record is [view, hash]")
    return view, block_hash


@dataclass(frozen=True, slots=True)
class SignState:
    """The signing floor of one validator on one chain (rule: module docstring)."""

    chain_id: str
    validator: bytes
    latest: HeightSigns | None = None   # the highest height signed at
    before: HeightSigns | None = None   # the height just below ``latest``, if signed there

    @property
    def floor(self) -> int:
        return 0 if self.latest is None else self.latest.height

    def may_sign_at(self, height: int) -> bool:
        return height >= self.floor - 1

    def record(self, height: int) -> HeightSigns | None:
        for kept in (self.latest, self.before):
            if kept is not None and kept.height == height:
                return kept
        return None

    def with_record(self, signs: HeightSigns) -> "SignState":
        """This state with ``signs`` recorded; its height must not be below ``floor - 1``."""
        if not self.may_sign_at(signs.height):
            raise ValueError(f"height {signs.height} is below the signing floor {self.floor}")
        if signs.height == self.floor:
            return replace(self, latest=signs)
        if signs.height == self.floor - 1:
            return replace(self, before=signs)
        kept = self.latest if self.latest is not None and self.latest.height == signs.height - 1 else None
        return replace(self, latest=signs, before=kept)

    @classmethod
    def declared(cls, chain_id: str, validator: bytes, from_height: int) -> "SignState":
        """The state an operator declares for a validator that lost its file:
        it signed nothing at ``from_height`` or above. Its floor is
        ``from_height + 1`` with no record, so it signs at ``from_height`` and
        above and nothing below."""
        if from_height < 1:
            raise ValueError("from_height is at least 1")
        return cls(chain_id, validator, HeightSigns(from_height + 1))

    def contradicted_by(self, certificate: CommitCertificate) -> bool:
        """A certificate above the floor holding this validator's COMMIT shows
        the state is an older copy: it signed there and the state does not say so."""
        return certificate.height > self.floor and any(signer == self.validator for signer, _ in certificate.signatures)

    def check_owner(self, chain_id: str, validator: bytes) -> None:
        if self.chain_id != chain_id or self.validator != validator:
            raise SignStateError(
                "sign_state.foreign",
                f"the sign_state file belongs to chain {self.chain_id!r} and key {self.validator.hex()[:16]}…, "
                f"not to this node (chain {chain_id!r}, key {validator.hex()[:16]}…); put the home's own file back")

    def check_successor(self, new: "SignState") -> None:
        """Refuse a state that would lower the floor."""
        new.check_owner(self.chain_id, self.validator)
        if new.floor < self.floor:
            raise SignStateError("sign_state.backwards",
                                 f"refusing to move the signing floor back from height {self.floor} to {new.floor}")

    def encode(self) -> bytes:
        return pack([FORMAT, self.chain_id, self.validator, [] if self.latest is None else self.latest.to_list(),
                     [] if self.before is None else self.before.to_list()])

    @classmethod
    def upgrade_v1(cls, raw: bytes, chain_id: str, validator: bytes) -> "SignState | None":
        """A file of the first format (one bare record, bound to nothing),
        as this format: None if ``raw`` is not one."""
        try:
            return cls(chain_id, validator, HeightSigns.from_list(unpack(raw, len(raw))))
        except (CodedError, TypeError, ValueError, IndexError):
            return None

    @classmethod
    def decode(cls, raw: bytes) -> "SignState":
        """The validator's own bytes, read whole: no fixed cap, as two
        prepared full blocks (the records of two heights) can pass any."""
        try:
            value = unpack(raw, len(raw))
            fmt, chain_id, validator, latest, before = value
            if fmt != FORMAT or not isinstance(chain_id, str) or not isinstance(validator, bytes):
                raise ValueError("not a sign_state")
            state = cls(chain_id, validator, HeightSigns.from_list(latest) if latest else None,
                        HeightSigns.from_list(before) if before else None)
        except (CodedError, TypeError, ValueError, IndexError):
            raise SignStateError(
                "consensus.bad_sign_state",
                "the sign_state file is damaged; move it aside and start the node: it then recovers without it, "
                "signing nothing until it has seen the chain pass the height it was at") from None
        if state.before is not None and (state.latest is None or state.before.height != state.floor - 1):
            raise SignStateError("consensus.bad_sign_state", "the sign_state file's records are not of consecutive heights")
        return state


@dataclass(slots=True)
class Recovery:
    """A validator that starts without its sign_state file does not know what
    it signed before. (Its start time is taken as no earlier than its last
    committed block's, so a clock behind the chain's cannot make an old block
    look new; a clock more than the allowed drift behind every other
    validator's is outside what this rule protects against.) It abstains (signs nothing) until a certified block
    proposed after it started shows that the chain has passed every height it
    may have signed at: such a block's height ``c`` is above the last height
    committed before the file was lost, so before the loss it signed at most
    at ``c``. It then signs only above ``c`` and above every height at which its
    own COMMIT appears in a certificate it has seen (as CometBFT's double-sign
    check looks for the validator's own votes in recent blocks).

    "Proposed after it started": the block's time is more than twice the
    allowed clock drift after the validator's start, so no proposer's clock
    error can make an older block look new."""

    validator: bytes
    margin_ms: int
    started_ms: int | None = None
    own_top: int = 0
    abstain_through: int | None = None   # None: still abstaining at every height

    def start(self, now_ms: int) -> None:
        if self.started_ms is None:
            self.started_ms = now_ms

    def learn(self, certificate: CommitCertificate, block_time_ms: int) -> None:
        if self.abstain_through is not None:
            return
        if any(signer == self.validator for signer, _ in certificate.signatures):
            self.own_top = max(self.own_top, certificate.height)
        if self.started_ms is not None and block_time_ms > self.started_ms + self.margin_ms:
            self.abstain_through = max(certificate.height, self.own_top)

    def may_sign_at(self, height: int) -> bool:
        return self.abstain_through is not None and height > self.abstain_through
