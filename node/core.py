"""The node core: every decision a node makes between the consensus replica,
the chain application, the mempool and its peers, with no I/O of its own.

The running node (node/runtime.py: asyncio, sockets, a worker thread) and
the simulator (node/sim/core.py: virtual time, an inline worker) are two
adapters around this one class; docs/architecture.md draws them. An adapter
gives it a ``Host`` (clock, timers, sends, the sign_state file, halting) and
a ``Worker``, and feeds it what happens: ``start``, ``on_message``,
``on_peer_connected`` / ``on_peer_disconnected``, ``on_timer`` and
``submit``.

What it decides:

- The replica's actions are carried out strictly in order (the ordering
  contract of consensus/actions.py). Sends and timers happen at once; the slow
  steps (writing the sign_state, building, executing and persisting a block)
  run on the worker, and nothing later in the queue happens before they
  finish: the sign_state is on disk before any message after it leaves.
- A primary at view 0 with transactions waiting proposes after
  ``propose_batch_ms`` instead of at the empty-block interval, and at once
  when the block just committed carried transactions and more are waiting
  (under load the block before was the batching window) or a full block is
  waiting.
- Status: each peer hears our committed height when it connects and after
  every commit; what peers claim only steers block sync.
- Block sync (p2p/sync.BlockSyncer plans it): requests for the heights we
  lack, each verified with ``verify_certified_block`` before it is kept; a
  peer that serves a bad block is reported (the adapter drops it), one that
  does not answer in time is struck and another asked; verified blocks are
  committed in height order behind the replica's own actions.
- Commit, from consensus or from sync, through one path: a block already
  held at its height is a no-op; a different block at a committed height is
  a fork, and the node halts logging both certificates. After a commit the
  mempool drops what the block used, listeners hear of it and peers get our
  new height.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Protocol, TypeVar

from chain.block import Block
from chain.budget import TokenBucket
from chain.encoding import pack, unpack
from chain.errors import CodedError, DecodeError
from chain.genesis import Genesis
from chain.keys import KeyPair, Verify, verify_signature
from chain.transaction import SignedTransaction
from chain.votes import CommitCertificate
from consensus.actions import (
    TIMER_PROPOSE, Action, Broadcast, BuildProposal, Commit, Execute, PersistSignState, RequestSync, Send, SetTimer,
)
from consensus.messages import MessageDecoder, new_view_bytes_max
from consensus.replica import Config as ReplicaConfig
from consensus.replica import Replica
from consensus.sign_state import SignState
from node.application import ChainApplication, CommittedBlock, StateDivergence
from node.config import ConfigError, P2PSection
from node.errors import RequestRejected
from node.mempool import Mempool
from p2p.errors import PeerError
from p2p.sync import (
    BlockSyncer, CertifiedBlock, certified_block_bytes_max, decode_sync_request, decode_sync_response, encode_sync_request,
    encode_sync_response, verify_certified_block,
)
from p2p.wire import (KIND_CONSENSUS, KIND_STATUS, KIND_SYNC_REQUEST, KIND_SYNC_RESPONSE, KIND_TXS, decode_tx_batch,
                      encode_tx_batch)
from storage.blockstore import BlockStore

log = logging.getLogger("shopchain.node")

T = TypeVar("T")

# The slow steps the worker runs, as step listeners and the step metric name them.
STEP_SIGN_STATE, STEP_BUILD, STEP_VALIDATE, STEP_PERSIST = "sign_state", "build", "validate", "persist"

TIMER_EARLY_PROPOSE = "early-propose"
TIMER_SYNC = "sync"
TIMER_GOSSIP = "gossip"
# The chain parameters behind the replica's timers, read as committed.
TIMING_PARAMS = ("view_timeout_ms", "empty_block_interval_ms", "max_clock_drift_ms")
# Gossiped transactions with these errors prove the relaying peer broken.
INVALID_TX_CODES = ("tx.bad_signature", "tx.malformed", "tx.wrong_chain", "tx.bad_version")


class Host(Protocol):
    """What an adapter provides the core."""

    def now_ms(self) -> int:
        """The wall clock in milliseconds (what consensus timestamps read)."""

    def monotonic_ms(self) -> float:
        """A clock that never steps back, for timeouts and durations (fractions of a millisecond allowed)."""

    def set_timer(self, name: str, delay_ms: int) -> None:
        """Call ``core.on_timer(name)`` after ``delay_ms``, replacing a pending timer of that name."""

    def send(self, peer: bytes, kind: str, payload: bytes) -> None:
        """Send to one peer, if connected."""

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> None:
        """Send to every connected peer but ``exclude``."""

    def write_sign_state(self, state: bytes) -> None:
        """Make ``state`` durable (called on the worker)."""

    def halt(self, reason: str) -> None:
        """The node's state can no longer be trusted: stop it."""


class Worker(Protocol):
    def run(self, job: Callable[[], T], done: Callable[[T], None]) -> None:
        """Run ``job`` and hand its result to ``done`` on the core's thread
        (at once, inline, in the simulator)."""


@dataclass(frozen=True, slots=True)
class CoreSettings:
    view_timeout_ms: int
    empty_block_interval_ms: int
    max_clock_drift_ms: int
    max_message_bytes: int
    resend_ms: int = 1000
    propose_batch_ms: int = 50
    # Transactions to gossip wait this long, or until this many bytes are
    # waiting, and go out in one message per peer: one frame, one encryption.
    gossip_flush_ms: int = 5
    gossip_batch_bytes: int = 256 * 1024
    sync_batch_blocks: int = P2PSection().sync_batch_blocks
    sync_serve_bytes_per_s: int = P2PSection().sync_serve_bytes_per_s
    sync_window_blocks: int = 64
    sync_tick_ms: int = 250
    sync_request_timeout_ms: int = 5000
    verifier: Verify = verify_signature   # checks the replica's and block sync's signatures
    decoder: MessageDecoder | None = None   # consensus messages; None: the replica's own


@dataclass(frozen=True, slots=True)
class _SyncedCommit:
    """A verified block from block sync, queued with the replica's actions."""

    item: CertifiedBlock


@dataclass(frozen=True, slots=True)
class _Outcome:
    value: object = None
    error: BaseException | None = None


class NodeCore:
    def __init__(self, genesis: Genesis, key: KeyPair | None, store: BlockStore, app: ChainApplication,
                 mempool: Mempool, sign_state: SignState | None, settings: CoreSettings, host: Host,
                 worker: Worker) -> None:
        """``sign_state`` is the validator's file as read (None: missing; see
        consensus/sign_state.Recovery); ``key`` None runs an observer."""
        needed = frame_bytes_needed(app.param("block_bytes_max"), app.param("block_txs_max"), len(genesis.validators))
        if settings.max_message_bytes < needed:
            raise ConfigError("config.frame_too_small",
                              f"p2p.frame_bytes_max is {settings.max_message_bytes}, but one block of this chain with its "
                              f"certificate, or a NEW-VIEW re-proposing it, can take {needed} bytes; set it to at least {needed}")
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.key = key
        self.is_validator = key is not None and key.public_key in genesis.validators
        self.store = store
        self.app = app
        self.mempool = mempool
        self.settings = settings
        self.host = host
        self.worker = worker
        self.syncer = BlockSyncer(settings.sync_batch_blocks, settings.sync_window_blocks, settings.sync_request_timeout_ms,
                                  frozenset(genesis.validators.keys))
        self.committed_height = store.last_height()
        self.replica = self._new_replica(self._unless_stale(sign_state))
        self.on_committed: list[Callable[[CommittedBlock], None]] = []
        self.on_view_change: list[Callable[[int, int, int], None]] = []   # (height, view, views moved)
        # (step, ms from its hand-off to the worker to its result back on the core's thread), each slow step that succeeds
        self.on_step: list[Callable[[str, float], None]] = []
        self.halted: str | None = None
        self.stopped = False
        self._queue: deque[Action | _SyncedCommit] = deque()
        self._busy = False
        self._pumping = False
        self._timer_args: dict[str, tuple[int, int]] = {}
        self._early_for: tuple[int, int] | None = None   # the (height, view) an early proposal is armed for
        self._early_at_once = False     # ... without the batching delay
        self._under_load = False        # the last block committed carried transactions
        self._block_txs_max = app.param("block_txs_max")
        self._timing = committed_timing(app)
        self._sync_armed = False
        self._persisting = 0          # the height being persisted on the worker, if any
        self._position = (self.replica.height, self.replica.view)
        self._gossip: dict[bytes | None, list[bytes]] = {}   # peer the transactions came from (None: a client) -> them
        self._gossip_bytes = 0
        self._gossip_armed = False
        self._sync_budgets: dict[bytes, TokenBucket] = {}   # connected peer -> bytes of sync answers it may draw

    def _unless_stale(self, sign_state: SignState | None) -> SignState | None:
        """A sign_state whose floor is below a height this validator's COMMIT
        is certified at (an older copy put back) is no floor: recover instead."""
        if sign_state is None or not self.is_validator:
            return sign_state
        for height in (self.committed_height, self.committed_height - 1):
            certificate = self.store.certificate(height) if height > sign_state.floor else None
            if certificate is not None and sign_state.contradicted_by(certificate):
                log.warning("the sign_state file's floor (height %d) is below this validator's COMMIT certified at "
                            "height %d: it is an older copy; signing nothing until the chain has passed",
                            sign_state.floor, height)
                return None
        return sign_state

    def _new_replica(self, sign_state: SignState | None) -> Replica:
        s = self.settings
        config = ReplicaConfig(
            chain_id=self.chain_id, validators=self.genesis.validators, view_timeout_ms=s.view_timeout_ms,
            empty_block_interval_ms=s.empty_block_interval_ms, max_clock_drift_ms=s.max_clock_drift_ms,
            max_message_bytes=s.max_message_bytes, resend_ms=s.resend_ms, verify=s.verifier, decoder=s.decoder,
        )
        last = self.store.block_by_height(self.committed_height)
        last_time_ms = last.header.time_ms if last else self.genesis.genesis_time_ms
        key = self.key if self.is_validator else None
        return Replica(config, key, self.committed_height + 1, self.store.last_block_hash(), last_time_ms,
                       sign_state if key is not None else None)

    # -- what the adapter feeds in -------------------------------------------------------

    def start(self) -> None:
        self._feed(self.replica.start(self.host.now_ms()))

    def stop(self) -> None:
        """The adapter is shutting the node down: carry out nothing more."""
        self.stopped = True
        self._queue.clear()

    def on_timer(self, name: str) -> None:
        if self.stopped:
            return
        if name == TIMER_EARLY_PROPOSE:
            if self._early_for == (self.replica.height, self.replica.view):
                height, view = self._early_for
                self._feed(self.replica.on_timer(TIMER_PROPOSE, height, view, self.host.now_ms()))
        elif name == TIMER_SYNC:
            self._sync_armed = False
            self._request_blocks()
        elif name == TIMER_GOSSIP:
            self._gossip_armed = False
            self._flush_gossip()
        elif name in self._timer_args:
            height, view = self._timer_args[name]
            self._feed(self.replica.on_timer(name, height, view, self.host.now_ms()))

    def on_peer_connected(self, peer: bytes) -> None:
        if self.stopped:
            return
        self.host.send(peer, KIND_STATUS, encode_status(self.committed_height))

    def on_peer_disconnected(self, peer: bytes) -> None:
        self.syncer.on_peer_gone(peer)
        self._sync_budgets.pop(peer, None)

    def on_message(self, peer: bytes, kind: str, payload: bytes) -> None:
        """A peer's message. Raises PeerError when it proves the peer broken."""
        if self.stopped:
            return
        if kind == KIND_CONSENSUS:
            self._feed(self.replica.on_message(payload, self.host.now_ms()))
        elif kind == KIND_TXS:
            self._on_gossiped_txs(peer, payload)
        elif kind == KIND_STATUS:
            self.syncer.on_peer_height(peer, decode_status(payload))
            self._request_blocks()
        elif kind == KIND_SYNC_REQUEST:
            self._serve_sync(peer, payload)
        elif kind == KIND_SYNC_RESPONSE:
            self._take_sync_response(peer, payload)

    def submit(self, raw: bytes) -> SignedTransaction:
        """A client's transaction: admit it (or raise RequestRejected) and gossip it."""
        if self.stopped:
            raise RequestRejected("node.halted", "this node has stopped; send the transaction to another node")
        tx = self.mempool.add_raw(raw)
        self._relay(raw, None)
        self._propose_early_if_waiting()
        return tx

    # -- the replica's actions, in order ---------------------------------------------------

    def _feed(self, actions: list[Action]) -> None:
        self._queue.extend(actions)
        self._pump()
        if self.stopped:
            return
        self._note_view()
        self._propose_early_if_waiting()

    def _pump(self) -> None:
        """Carry out queued actions one at a time; a slow one pauses the queue
        until the worker hands back its result."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._queue and not self._busy and not self.stopped:
                self._perform(self._queue.popleft())
        finally:
            self._pumping = False

    def _slow(self, step: str, job: Callable[[], T], then: Callable[[T], None]) -> None:
        self._busy = True
        started_ms = self.host.monotonic_ms()

        def guarded() -> _Outcome:
            try:
                return _Outcome(job())
            except Exception as error:   # noqa: BLE001 - any failure of a slow step leaves the node untrustworthy
                return _Outcome(error=error)

        def done(outcome: _Outcome) -> None:
            self._busy = False
            if self.stopped:
                return
            if outcome.error is not None:
                error = outcome.error
                self._halt(str(error) if isinstance(error, (StateDivergence, CodedError)) else repr(error))
                return
            elapsed_ms = self.host.monotonic_ms() - started_ms
            for listener in self.on_step:
                listener(step, elapsed_ms)
            then(outcome.value)
            self._feed([])

        self.worker.run(guarded, done)

    def _perform(self, action: Action | _SyncedCommit) -> None:
        now_ms = self.host.now_ms
        if isinstance(action, PersistSignState):
            self._slow(STEP_SIGN_STATE, lambda: self.host.write_sign_state(action.state), lambda _: None)
        elif isinstance(action, Broadcast):
            self.host.broadcast(KIND_CONSENSUS, action.payload)
        elif isinstance(action, Send):
            self.host.send(action.to, KIND_CONSENSUS, action.payload)
        elif isinstance(action, SetTimer):
            self._timer_args[action.kind] = (action.height, action.view)
            self.host.set_timer(action.kind, action.delay_ms)
        elif isinstance(action, BuildProposal):
            txs = self.mempool.reap(self.app.param("block_txs_max"), self.app.param("block_bytes_max"))
            proposer = self.replica.me
            self._slow(STEP_BUILD, lambda: self.app.build_block(action.height, action.prev_hash, action.time_ms, proposer,
                                                    action.evidence, txs),
                       lambda block: self._queue.extend(self.replica.on_proposal_built(block, now_ms())))
        elif isinstance(action, Execute):
            known = self.mempool.pending
            self._slow(STEP_VALIDATE, lambda: self.app.validate_block(action.block, known),
                       lambda ok: self._queue.extend(self.replica.on_block_validated(action.block.hash(), ok, now_ms())))
        elif isinstance(action, Commit):
            self._commit(action.block, action.certificate, synced=False)
        elif isinstance(action, _SyncedCommit):
            self._commit(action.item.block, action.item.certificate, synced=True)
        elif isinstance(action, RequestSync):
            self.syncer.on_certified_height(action.certificate.height)
            self._request_blocks()
        else:
            raise TypeError(f"unknown action {action!r}")

    # -- commit: one path for consensus and sync ------------------------------------------

    def _commit(self, block: Block, certificate: CommitCertificate, synced: bool) -> None:
        height = block.height
        if height <= self.committed_height:
            held = self.store.block_by_height(height)
            if held is not None and held.hash() == block.hash():
                return
            self._fork(height, certificate)
            return
        if height != self.committed_height + 1:
            self._halt(f"internal error: block {height} queued for commit above height {self.committed_height} + 1")
            return
        if block.header.prev_hash != self.store.last_block_hash():
            self._fork(self.committed_height, certificate)
            return
        known = self.mempool.pending
        self._persisting = height
        self._slow(STEP_PERSIST, lambda: self.app.persist_block(block, certificate, known),
                   lambda committed: self._committed(committed, certificate, synced))

    def _committed(self, committed: CommittedBlock, certificate: CommitCertificate, synced: bool) -> None:
        block = committed.block
        self.committed_height = block.height
        self._persisting = 0
        self.mempool.on_commit(committed.txs)
        self._under_load = bool(committed.txs)
        self._block_txs_max = self.app.param("block_txs_max")
        self._follow_timing()
        for listener in self.on_committed:
            listener(committed)
        self.host.broadcast(KIND_STATUS, encode_status(block.height))
        if synced:
            stale_before = self.replica.stale_sign_state_at
            self._queue.extend(self.replica.on_synced_block(block, certificate, self.host.now_ms()))
            if stale_before is None and self.replica.stale_sign_state_at is not None:
                log.warning("this validator's COMMIT is certified at height %d, above its sign_state file's floor: "
                            "the file is an older copy; signing nothing until the chain has passed",
                            self.replica.stale_sign_state_at)
        self._take_synced()

    def _follow_timing(self) -> None:
        """A committed block that moved a timing parameter retimes the replica
        and ``settings``. Only a move counts: the simulator's own faster
        timings stand until its chain moves one."""
        timing = committed_timing(self.app)
        if timing != self._timing:
            self._timing = timing
            self.settings = replace(self.settings, **timing)
            self.replica.retime(**timing)

    def _fork(self, height: int, theirs: CommitCertificate) -> None:
        ours = self.store.certificate(height)
        self._halt(f"fork at height {height}: this node committed block "
                   f"{ours.block_hash.hex() if ours else 'none'} (certificate {ours.encode().hex() if ours else 'none'}), "
                   f"a certificate for height {theirs.height} names {theirs.block_hash.hex()} "
                   f"(certificate {theirs.encode().hex()})")

    def _halt(self, reason: str) -> None:
        if self.halted is not None:
            return
        self.halted = reason
        self.stop()
        self.host.halt(reason)

    # -- proposing ------------------------------------------------------------------------

    def _note_view(self) -> None:
        """Tell listeners of each view this node moves to within a height."""
        position = (self.replica.height, self.replica.view)
        if position[0] == self._position[0] and position[1] > self._position[1]:
            for listener in self.on_view_change:
                listener(position[0], position[1], position[1] - self._position[1])
        self._position = position

    def _propose_early_if_waiting(self) -> None:
        """As primary at view 0 with transactions waiting, fire the propose
        timer rather than wait for the empty-block interval: at once when the
        last block carried transactions or a full block is waiting, else after
        a short batching delay; once a height (a delayed timer may be brought
        forward). The replica checks, as for its own timer, that a proposal
        is still due."""
        replica = self.replica
        if (not self.is_validator or replica.view != 0 or replica.me != replica.primary or len(self.mempool) == 0
                or self.stopped):
            return
        at_once = self._under_load or len(self.mempool) >= self._block_txs_max
        if self._early_for == (replica.height, 0) and (self._early_at_once or not at_once):
            return
        self._early_for, self._early_at_once = (replica.height, 0), at_once
        self.host.set_timer(TIMER_EARLY_PROPOSE, 0 if at_once else self.settings.propose_batch_ms)

    # -- transactions from peers -------------------------------------------------------------

    def _on_gossiped_txs(self, peer: bytes, payload: bytes) -> None:
        for raw in decode_tx_batch(payload):
            try:
                self.mempool.add_raw(raw)
            except CodedError as error:
                if error.code in INVALID_TX_CODES:
                    raise PeerError("p2p.invalid_tx", f"the peer relayed an invalid transaction ({error.code})") from None
                continue
            self._relay(raw, peer)
        self._propose_early_if_waiting()

    def _relay(self, raw: bytes, source: bytes | None) -> None:
        """Gossip a transaction just admitted to every peer but ``source``, in
        the next batch: it leaves within ``gossip_flush_ms``, at once when
        ``gossip_batch_bytes`` are waiting."""
        self._gossip.setdefault(source, []).append(raw)
        self._gossip_bytes += len(raw)
        if self._gossip_bytes >= self.settings.gossip_batch_bytes:
            self._flush_gossip()
        elif not self._gossip_armed:
            self._gossip_armed = True
            self.host.set_timer(TIMER_GOSSIP, self.settings.gossip_flush_ms)

    def _flush_gossip(self) -> None:
        waiting, self._gossip, self._gossip_bytes = self._gossip, {}, 0
        for source, raws in waiting.items():
            self.host.broadcast(KIND_TXS, encode_tx_batch(raws), exclude=source)

    # -- block sync ---------------------------------------------------------------------------

    def _serve_sync(self, peer: bytes, payload: bytes) -> None:
        """Answer within the peer's budget of ``sync_serve_bytes_per_s``; a
        request past it is not answered (the asker times out and asks
        another peer), so requests cannot make this node encode and queue
        frames of blocks faster than the budget."""
        from_height, count = decode_sync_request(payload)
        now_s = self.host.monotonic_ms() / 1000
        budget = self._sync_budgets.get(peer)
        if budget is None:
            budget = self._sync_budgets[peer] = TokenBucket(self.settings.sync_serve_bytes_per_s,
                                                            2 * self.settings.max_message_bytes, now_s)
        if not budget.in_credit(now_s):
            return
        last = min(self.committed_height, from_height + min(count, self.settings.sync_batch_blocks) - 1)
        blocks = (CertifiedBlock(self.store.block_by_height(h), self.store.certificate(h))
                  for h in range(from_height, last + 1))
        answer = encode_sync_response(blocks, self.settings.max_message_bytes)
        budget.charge(len(answer))
        self.host.send(peer, KIND_SYNC_RESPONSE, answer)

    def _take_sync_response(self, peer: bytes, payload: bytes) -> None:
        if not self.syncer.awaits(peer):
            return
        try:
            pairs = decode_sync_response(payload, self.settings.max_message_bytes, self.settings.sync_batch_blocks)
            blocks = [verify_certified_block(b, c, self.genesis.validators, self.chain_id,
                                             self.settings.max_message_bytes, verify=self.settings.verifier)
                      for b, c in pairs]
        except PeerError:
            self.syncer.on_peer_failed(peer)
            self._request_blocks()
            raise
        if self.syncer.on_response(peer, blocks):
            self._take_synced()
            self._request_blocks()

    def _take_synced(self) -> None:
        """Queue verified blocks that extend what is committed or queued, in height order."""
        ready = self.syncer.take_ready(self._held_height())
        if ready:
            self._queue.extend(_SyncedCommit(item) for item in ready)
            self._pump()

    def _held_height(self) -> int:
        """The height through which blocks are committed or queued for commit:
        sync asks only above it, so a backlog is not fetched twice."""
        queued = [action.item.height for action in self._queue if isinstance(action, _SyncedCommit)]
        return max(queued, default=max(self.committed_height, self._persisting))

    def _request_blocks(self) -> None:
        """Ask peers for the blocks we lack; keep a tick going while sync has work."""
        if self.stopped:
            return
        held = self._held_height()
        for peer, from_height, count in self.syncer.next_requests(held, self.host.monotonic_ms()):
            self.host.send(peer, KIND_SYNC_REQUEST, encode_sync_request(from_height, count))
        if not self._sync_armed and self.syncer.has_work(held):
            self._sync_armed = True
            self.host.set_timer(TIMER_SYNC, self.settings.sync_tick_ms)


def committed_timing(app: ChainApplication) -> dict[str, int]:
    """The timing parameters as committed, by their CoreSettings names."""
    return {name: app.param(name) for name in TIMING_PARAMS}


def frame_bytes_needed(block_bytes_max: int, block_txs_max: int, validators: int) -> int:
    """The frame a node of this chain needs: for a certified block by sync and
    for the largest consensus message, a NEW-VIEW."""
    return max(certified_block_bytes_max(block_bytes_max, block_txs_max, validators),
               new_view_bytes_max(block_bytes_max, block_txs_max, validators))


def encode_status(height: int) -> bytes:
    return pack({"height": height})


def decode_status(payload: bytes) -> int:
    try:
        value = unpack(payload, 64)
    except DecodeError:
        raise PeerError("p2p.bad_message", "a status message is not canonical") from None
    if not isinstance(value, dict) or set(value) != {"height"} or type(value["height"]) is not int or value["height"] < 0:
        raise PeerError("p2p.bad_message", "a status message is {height}")
    return value["height"]
