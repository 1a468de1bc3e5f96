"""Virtual-time simulation of N replicas of consensus.Replica.

Everything random comes from one ``random.Random(seed)``; events are ordered
by (virtual time, sequence number), so a seed replays exactly and
``trace_hash`` (SHA-256 over every delivered message and commit) is the same
across processes whatever PYTHONHASHSEED is.
"""
from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field

from chain.block import Block, Header
from chain.keys import KeyPair
from chain.merkle import merkle_root
from chain.validators import ValidatorSet
from consensus import (
    Broadcast, BuildProposal, Commit, Config, Execute, PersistSignState, Replica, RequestSync, Send, SetTimer,
    SignState,
)

ZERO = b"\0" * 32


@dataclass(frozen=True, slots=True)
class SimConfig:
    validators: int = 4
    byzantine: int = 0
    strategy: str = "silent"
    seed: int = 0
    duration_ms: int = 20_000
    latency_ms: tuple[int, int] = (5, 50)
    drop: float = 0.0
    duplicate: float = 0.0
    crash_rate: float = 0.0          # per second of virtual time, honest replicas
    chain_id: str = "sim"
    view_timeout_ms: int = 1000
    empty_block_interval_ms: int = 100
    resend_ms: int = 250


@dataclass
class SimReport:
    seed: int
    committed_height: int
    view_changes: int
    safety_violations: list[str]
    liveness_ok: bool
    trace_hash: str
    messages: int

    def to_json(self) -> dict:
        return {"seed": self.seed, "committed_height": self.committed_height, "view_changes": self.view_changes,
                "safety_violations": len(self.safety_violations), "liveness_ok": self.liveness_ok,
                "trace_hash": self.trace_hash, "messages": self.messages}


class StubApplication:
    """Empty blocks; every block valid. Stands in for the commerce executor."""

    def __init__(self, chain_id: str) -> None:
        self.chain_id = chain_id
        self.chain: list[Block] = []

    def build_block(self, height, prev_hash, time_ms, proposer, evidence) -> Block:
        header = Header(1, self.chain_id, height, prev_hash, time_ms, proposer, 0, merkle_root(()), ZERO,
                        merkle_root(tuple(evidence)), ZERO, ZERO, ZERO)
        return Block(header, (), tuple(evidence))

    def validate_block(self, block: Block) -> bool:
        return True

    def commit_block(self, block, certificate) -> None:
        self.chain.append(block)


@dataclass
class SimNode:
    key: KeyPair
    app: StubApplication
    replica: Replica | None = None
    sign_state: bytes | None = None     # survives crashes (the home's sign_state)
    timers: dict = field(default_factory=dict)  # kind -> token
    byzantine: bool = False


class Simulation:
    def __init__(self, config: SimConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        keys = [KeyPair(hashlib.sha256(b"sim-key-%d" % i).digest()) for i in range(config.validators)]
        self.validators = ValidatorSet.of(k.public_key for k in keys)
        self.core_config = Config(config.chain_id, self.validators, view_timeout_ms=config.view_timeout_ms,
                                  empty_block_interval_ms=config.empty_block_interval_ms, resend_ms=config.resend_ms)
        byz = set(self.rng.sample(range(config.validators), config.byzantine))
        self.nodes = [SimNode(k, StubApplication(config.chain_id), byzantine=i in byz) for i, k in enumerate(keys)]
        self.index = {k.public_key: i for i, k in enumerate(keys)}
        self.queue: list = []
        self.seq = 0
        self.now = 0
        self.trace = hashlib.sha256()
        self.violations: list[str] = []
        self.committed: dict[int, bytes] = {}
        self.messages = 0
        self.view_changes = 0
        self.certificates: dict[bytes, object] = {}

    # -- scheduling -------------------------------------------------------------------

    def _at(self, time_ms: int, kind: str, *payload) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (time_ms, self.seq, kind, payload))

    def _latency(self) -> int:
        low, high = self.cfg.latency_ms
        return self.rng.randint(low, high)

    def _start(self, i: int) -> None:
        node = self.nodes[i]
        chain = node.app.chain
        state = None if node.sign_state is None else SignState.decode(node.sign_state)
        node.replica = Replica(self.core_config, node.key, len(chain) + 1, chain[-1].hash() if chain else ZERO,
                               chain[-1].header.time_ms if chain else 0, state)
        self._run(i, node.replica.start(self.now))

    def _send(self, src: int, dst: int, raw: bytes) -> None:
        if self.rng.random() < self.cfg.drop:
            return
        self._at(self.now + self._latency(), "deliver", src, dst, raw)
        if self.rng.random() < self.cfg.duplicate:
            self._at(self.now + self._latency(), "deliver", src, dst, raw)

    def _run(self, i: int, actions: list) -> None:
        node = self.nodes[i]
        for action in actions:
            if node.replica is None:
                return
            if isinstance(action, PersistSignState):
                node.sign_state = action.state
            elif isinstance(action, Broadcast):
                for j in range(len(self.nodes)):
                    if j != i:
                        self._send(i, j, action.payload)
            elif isinstance(action, Send):
                self._send(i, self.index[action.to], action.payload)
            elif isinstance(action, SetTimer):
                self.seq += 1
                node.timers[action.kind] = self.seq
                self._at(self.now + action.delay_ms, "timer", i, action.kind, action.height, action.view, self.seq)
                if action.kind == "view" and action.view > 0:
                    self.view_changes += 1
            elif isinstance(action, BuildProposal):
                block = node.app.build_block(action.height, action.prev_hash, action.time_ms, node.key.public_key,
                                             action.evidence)
                self._run(i, node.replica.on_proposal_built(block, self.now))
            elif isinstance(action, Execute):
                ok = node.app.validate_block(action.block)
                self._run(i, node.replica.on_block_validated(action.block.hash(), ok, self.now))
            elif isinstance(action, Commit):
                node.app.commit_block(action.block, action.certificate)
                self.certificates.setdefault(action.block.hash(), action.certificate)
                self._check_commit(i, action.block)
            elif isinstance(action, RequestSync):
                self._sync(i, action.from_height)

    def _sync(self, i: int, from_height: int) -> None:
        """Block sync from the most advanced honest peer (certificates checked by the core)."""
        donor = max((n for n in self.nodes if not n.byzantine), key=lambda n: len(n.app.chain))
        node = self.nodes[i]
        for block in donor.app.chain[len(node.app.chain):]:
            if node.replica is None or block.height != node.replica.height:
                return
            cert = self.certificates[block.hash()]
            node.app.commit_block(block, cert)
            self._check_commit(i, block)
            self._run(i, node.replica.on_synced_block(block, cert, self.now))

    def _check_commit(self, i: int, block: Block) -> None:
        self.trace.update(b"commit%d:%d:" % (i, block.height) + block.hash())
        if self.nodes[i].byzantine:
            return
        known = self.committed.setdefault(block.height, block.hash())
        if known != block.hash():
            self.violations.append(f"height {block.height}: replica {i} committed {block.hash().hex()[:12]}, "
                                   f"another honest replica {known.hex()[:12]}")

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> SimReport:
        for i, node in enumerate(self.nodes):
            if not (node.byzantine and self.cfg.strategy == "silent"):
                self._start(i)
        while self.queue and self.queue[0][0] <= self.cfg.duration_ms:
            self.now, _, kind, payload = heapq.heappop(self.queue)
            if kind == "deliver":
                src, dst, raw = payload
                node = self.nodes[dst]
                if node.replica is None:
                    continue
                self.messages += 1
                self.trace.update(b"msg%d>%d:" % (src, dst) + hashlib.sha256(raw).digest())
                self._run(dst, node.replica.on_message(raw, self.now))
            elif kind == "timer":
                i, timer_kind, height, view, token = payload
                node = self.nodes[i]
                if node.replica is None or node.timers.get(timer_kind) != token:
                    continue
                self._run(i, node.replica.on_timer(timer_kind, height, view, self.now))
            elif kind == "restart":
                self._start(payload[0])
            self._maybe_crash()
        heights = [len(n.app.chain) for n in self.nodes if not n.byzantine]
        return SimReport(self.cfg.seed, min(heights), self.view_changes, self.violations,
                         liveness_ok=min(heights) > 0, trace_hash=self.trace.hexdigest(), messages=self.messages)

    def _maybe_crash(self) -> None:
        if self.cfg.crash_rate and self.rng.random() < self.cfg.crash_rate / 1000:
            candidates = [i for i, n in enumerate(self.nodes) if not n.byzantine and n.replica is not None]
            if candidates:
                i = self.rng.choice(candidates)
                self.nodes[i].replica = None  # memory lost, sign_state and chain kept
                self.nodes[i].timers = {}
                self._at(self.now + self.rng.randint(100, 2000), "restart", i)


def run(config: SimConfig) -> SimReport:
    return Simulation(config).run()
