"""Deterministic simulation of N Shopchain validators in virtual time.

Every validator is the node's own core (node/core.py: the real ``Replica``,
``ChainApplication``, mempool, status exchange, block sync and commit path)
over its own ``MemoryStore``; this module is only its virtual-time adapter:
a clock, timers on one event queue, a simulated network, an inline worker
and a sign_state "file" that survives crashes. It decides nothing a node
decides.

Seed in, seed out: everything random comes from one ``random.Random(seed)``;
events are ordered by (virtual time, sequence number); nothing ordered is
built from ``hash()`` of a string or from set iteration. ``trace_hash`` is a
SHA-256 over every delivered message and every commit, so a seed replays
byte for byte in any process, whatever PYTHONHASHSEED is.

Two phases, as TigerBeetle's VOPR: during the *fault phase* (the first
``fault_fraction`` of the run) the network drops, duplicates, delays and
reorders messages, a scheduled partition cuts it, and honest replicas crash
and restart (storage and sign state kept, memory lost). At ``heal_ms`` the
partition heals, the network turns reliable and every crashed replica comes
back; Byzantine validators keep misbehaving. Safety is checked at every
commit, in both phases: no two honest replicas commit different blocks or
reach different state roots at one height. Liveness is checked after the
heal: every honest replica must commit past the highest honest height at
heal time within ``liveness_bound_ms`` (the run goes on past ``duration_ms``
if it needs to, up to that bound).

Peers are connected while both run and the network between them is not
cut: a start, a restart and a heal connect them (each side sends its status,
as over a new connection), a crash and a cut disconnect them.
"""
from __future__ import annotations

import hashlib
import heapq
import random
import shlex
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, TypeVar

from chain.errors import CodedError
from chain.keys import KeyPair, SignatureVerifier
from chain.kv import WriteBatch
from chain.transaction import TransactionDecoder
from chain.votes import Vote
from commerce.executor import get_nonce
from commerce.records import get_param
from consensus import ConsensusError, NewView, Proposal
from consensus.messages import MessageDecoder
from consensus.sign_state import HeightSigns, SignState
from node.admission import check_admission
from node.application import ChainApplication, CommittedBlock
from node.core import CoreSettings, NodeCore
from node.errors import RequestRejected
from node.mempool import Mempool, MempoolLimits
from node.sim.byzantine import STRATEGIES, Strategy, make_strategy
from node.workload import GENESIS_TIME_MS, build_workload, certify_history, make_world
from p2p.errors import PeerError
from p2p.backoff import Backoff
from p2p.network import PeerLimits
from p2p.seen_cache import SeenCache, message_id
from p2p.wire import GOSSIP_KINDS, KIND_CONSENSUS
from storage.blockstore import BlockStore, stored_height
from storage.memory import MemoryStore

T = TypeVar("T")

MESSAGE_BYTES_MAX = 8 * 1024 * 1024
DECODED_MESSAGES_MAX = 200_000
DECODED_TRANSACTIONS_MAX = 200_000

PARTITIONS = ("none", "half", "ring", "isolate")
# Faults of honest validators' disks and of sync, one per run (docs/simulation.md).
FAULTS = ("none", "wipe", "lost-write", "lost-write-all", "sync-partition")
# The faults that put one more honest validator at fault for a while.
FAULT_VICTIMS = {"none": 0, "wipe": 1, "lost-write": 1, "lost-write-all": 0, "sync-partition": 1}


class SimOptionError(CodedError):
    """Simulation options that cannot make a run."""



@dataclass(frozen=True, slots=True)
class SimConfig:
    validators: int = 4
    byzantine: int = 0
    strategy: str = "silent"
    seed: int = 0
    duration_ms: int = 20_000
    latency_ms: tuple[int, int] = (5, 50)     # uniform one-way delay
    drop: float = 0.0                          # per message, fault phase
    duplicate: float = 0.0                     # per message, fault phase
    reorder: float = 0.0                       # per message: an extra delay of up to 5x the maximum latency
    partition: str = "none"                    # none, half, ring, isolate (fault phase, heals at heal_ms)
    fault: str = "none"                        # one of FAULTS, at a random moment of the fault phase
    crash_rate: float = 0.0                    # honest crashes per virtual second, fault phase
    crash_after_persist: float = 0.0           # chance an honest replica crashes between persisting and sending
    clock_skew_ms: int = 0                     # each replica's clock is off by up to this much
    tx_rate: float = 50.0                      # pre-signed commerce transactions submitted per virtual second
    shoppers: int = 16                         # 0: no workload, no history (empty blocks only)
    fault_fraction: float = 0.6
    liveness_bound_ms: int = 60_000
    view_timeout_ms: int = 1000
    empty_block_interval_ms: int = 100
    resend_ms: int = 250
    target_height: int = 0                     # > 0: stop once every honest replica has committed this height

    def __post_init__(self) -> None:
        if self.validators < 1 or not 0 <= self.byzantine < self.validators:
            raise SimOptionError("sim.bad_option", "need at least one validator and 0 <= --byzantine < --validators")
        if self.strategy not in STRATEGIES:
            raise SimOptionError("sim.bad_option", f"unknown strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}")
        if self.partition not in PARTITIONS:
            raise SimOptionError("sim.bad_option", f"unknown partition {self.partition!r}; use one of {', '.join(PARTITIONS)}")
        if self.fault not in FAULTS:
            raise SimOptionError("sim.bad_option", f"unknown fault {self.fault!r}; use one of {', '.join(FAULTS)}")
        for name in ("drop", "duplicate", "reorder", "crash_after_persist"):
            if not 0 <= getattr(self, name) <= 1:
                raise SimOptionError("sim.bad_option", f"{name} is a probability; give a value from 0 to 1")
        if self.duration_ms <= 0 or self.crash_rate < 0 or self.tx_rate < 0 or self.clock_skew_ms < 0:
            raise SimOptionError("sim.bad_option", "duration must be positive; crash rate, tx rate and clock skew not negative")
        if not 0 <= self.latency_ms[0] <= self.latency_ms[1]:
            raise SimOptionError("sim.bad_option", "latency is LOW..HIGH milliseconds with 0 <= LOW <= HIGH")

    @property
    def heal_ms(self) -> int:
        return int(self.duration_ms * self.fault_fraction)

    def replay_command(self) -> str:
        """The ``shopchain sim`` command line that replays this run."""
        words = ["shopchain", "sim", "--validators", str(self.validators), "--byzantine", str(self.byzantine),
                 "--strategy", self.strategy, "--seed", str(self.seed), "--duration", f"{self.duration_ms / 1000:g}"]
        defaults = SimConfig()
        flags = {"drop": "--drop", "duplicate": "--duplicate", "reorder": "--reorder", "partition": "--partition",
                 "fault": "--fault",
                 "crash_rate": "--crash-rate", "crash_after_persist": "--crash-after-persist",
                 "clock_skew_ms": "--clock-skew-ms", "tx_rate": "--tx-rate"}
        for name, flag in flags.items():
            value = getattr(self, name)
            if value != getattr(defaults, name):
                words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        if self.latency_ms != defaults.latency_ms:
            words += ["--latency-ms", f"{self.latency_ms[0]}..{self.latency_ms[1]}"]
        return shlex.join(words)


@dataclass
class SimReport:
    config: SimConfig
    committed_height: int
    max_height: int
    history_height: int            # the certified set-up blocks every replica starts from
    tx_submitted: int
    tx_committed: int
    latencies_ms: list[int]
    view_changes: int
    violations: list[str]
    liveness_ok: bool
    liveness_ms: int | None
    trace_hash: str
    messages: int
    virtual_ms: int
    wall_s: float
    faults: list[str] = field(default_factory=list)

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])

    def to_json(self) -> dict:
        cfg = self.config
        return {
            "seed": cfg.seed, "validators": cfg.validators, "byzantine": cfg.byzantine, "strategy": cfg.strategy,
            "drop": cfg.drop, "partition": cfg.partition, "fault": cfg.fault, "duration_s": cfg.duration_ms / 1000,
            "committed_height": self.committed_height, "max_height": self.max_height,
            "tx_submitted": self.tx_submitted, "tx_committed": self.tx_committed,
            "tx_per_virtual_s": round(self.tx_committed / (cfg.duration_ms / 1000), 3),
            "latency_ms_p50": self.percentile(0.50), "latency_ms_p99": self.percentile(0.99),
            "view_changes": self.view_changes, "messages": self.messages,
            "history_height": self.history_height,
            "messages_per_block": round(self.messages / blocks, 1) if (blocks := self.max_height - self.history_height) else None,
            "safety_violations": len(self.violations), "violations": self.violations[:20],
            "liveness_ok": self.liveness_ok, "liveness_ms": self.liveness_ms,
            "faults": self.faults, "trace_hash": self.trace_hash, "replay": cfg.replay_command(), "wall_s": round(self.wall_s, 3),
        }


class SimDisk(MemoryStore):
    """A node's database on a disk that can lose the last batch it was given
    (written, not yet flushed when the machine stopped)."""

    def __init__(self) -> None:
        super().__init__()
        self._undo: dict[bytes, bytes | None] = {}

    @contextmanager
    def write_batch(self, sync: bool = False) -> Iterator[WriteBatch]:
        with super().write_batch(sync) as batch:
            yield batch
            self._undo = {key: self.get(key) for key in batch.writes}

    def clone(self) -> "SimDisk":
        """Another disk holding the same bytes (and the same unflushed last batch)."""
        twin = SimDisk()
        twin._values = dict(self._values)
        twin._sorted_keys = list(self._sorted_keys)
        twin._added, twin._removed = set(self._added), set(self._removed)
        twin._undo = dict(self._undo)
        return twin

    def lose_last_batch(self) -> None:
        for key, value in self._undo.items():
            if value is None:
                self.delete(key)
            else:
                self.put(key, value)
        self._undo = {}


@dataclass
class SimNode:
    index: int
    key: KeyPair
    disk: SimDisk
    byzantine: bool
    skew_ms: int
    sign_state: SignState | None         # the home's sign_state file, as read back: survives a crash
    strategy: Strategy | None = None
    core: NodeCore | None = None
    timers: dict[str, int] = field(default_factory=dict)
    broken: str | None = None            # a Byzantine node whose state went astray stops
    wipe_armed: bool = False             # the wipe fault strikes after its next COMMIT
    seen: SeenCache = field(default_factory=lambda: SeenCache(PeerLimits().seen_cache_max))   # its network's, lost in a crash

    @property
    def store(self) -> BlockStore:
        """The running node's store; a stopped node's, read from its disk."""
        return self.core.store if self.core is not None else BlockStore(self.disk)


class _SimHost:
    """``node.core.Host`` in virtual time, for one simulated node."""

    def __init__(self, sim: "Simulation", index: int) -> None:
        self.sim = sim
        self.index = index

    def now_ms(self) -> int:
        return self.sim.now_ms(self.index)

    def monotonic_ms(self) -> int:
        return self.sim.now

    def set_timer(self, name: str, delay_ms: int) -> None:
        self.sim.set_timer(self.index, name, delay_ms)

    def send(self, peer: bytes, kind: str, payload: bytes) -> None:
        target = self.sim.by_key[peer]
        twin = self.sim.twin_of.get(target)
        self.sim.emit(self.index, [target] if twin is None else [target, twin], kind, payload)

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> None:
        """As the node's network does: gossip it sends is marked seen, so its echoes are dropped."""
        payload_id = message_id(kind, payload)
        if kind in GOSSIP_KINDS:
            self.sim.nodes[self.index].seen.add(payload_id)
        skip = None if exclude is None else self.sim.by_key.get(exclude)
        self.sim.emit(self.index, [j for j in self.sim.peers(self.index) if j != skip], kind, payload, payload_id)

    def write_sign_state(self, state: bytes) -> None:
        node = self.sim.nodes[self.index]
        written = SignState.decode(state)
        if node.sign_state is not None:      # the node's file refuses to move backwards: so does this one
            node.sign_state.check_successor(written)
        node.sign_state = written
        if node.wipe_armed and node.core is not None:
            height = node.core.replica.height
            signed = written.record(height)
            if signed is not None and signed.commit is not None and self.sim.worst_height(height):
                self.sim.wipe(self.index)       # its COMMIT is on disk and has not left
                return
        self.sim.crash_after_persist(node)

    def halt(self, reason: str) -> None:
        self.sim.halted(self.index, reason)


class _InlineWorker:
    """The simulator's worker: a job runs at once, in virtual time zero."""

    def run(self, job: Callable[[], T], done: Callable[[T], None]) -> None:
        done(job())


class Simulation:
    message_bytes_max = MESSAGE_BYTES_MAX

    def __init__(self, config: SimConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.world = make_world(config.validators, config.shoppers)
        self.genesis = self.world.genesis
        self.chain_id = self.genesis.chain_id
        self.validators = self.genesis.validators
        self.verifier = SignatureVerifier(1_000_000)   # shared by every node: a signature is checked once in the process
        # one decoder of each for every node too: a message or transaction is decoded once in the process
        self.tx_decoder = TransactionDecoder(self.chain_id, self.verifier, DECODED_TRANSACTIONS_MAX)
        decoder = MessageDecoder(len(self.genesis.validators), MESSAGE_BYTES_MAX, DECODED_MESSAGES_MAX)
        self.settings = CoreSettings(
            view_timeout_ms=config.view_timeout_ms, empty_block_interval_ms=config.empty_block_interval_ms,
            max_clock_drift_ms=self.genesis.params["max_clock_drift_ms"], max_message_bytes=MESSAGE_BYTES_MAX,
            resend_ms=config.resend_ms, verifier=self.verifier, decoder=decoder,
        )
        byzantine = sorted(self.rng.sample(range(config.validators), config.byzantine))
        keys = list(self.world.validator_keys)
        twins = byzantine if config.strategy == "twins" else []
        self.twin_of = {i: len(keys) + k for k, i in enumerate(twins)}   # a validator's second replica
        self.twin_of.update({twin: i for i, twin in self.twin_of.items()})
        self.nodes = [SimNode(i, key, SimDisk(), i in byzantine or i >= config.validators,
                              self.rng.randint(-config.clock_skew_ms, config.clock_skew_ms),
                              SignState(self.chain_id, key.public_key))
                      for i, key in enumerate(keys + [keys[i] for i in twins])]
        self.by_key = {key.public_key: i for i, key in enumerate(self.world.validator_keys)}
        self.peer_lists = [[j for j in range(len(self.nodes)) if self.nodes[j].key != node.key] for node in self.nodes]
        for node in self.nodes:
            if node.byzantine:
                node.strategy = make_strategy(config.strategy, self, node.index)
        self.honest = [node for node in self.nodes if not node.byzantine]
        self.blocked: set[tuple[int, int]] = set()       # links cut by the sync-partition fault
        self.faults: list[str] = []                      # the disk and sync faults applied, in order
        self.bans: dict[tuple[int, int], int] = {}       # (node, peer it banned) -> until (virtual ms)
        self.ban_backoffs: dict[tuple[int, int], Backoff] = {}
        self.queue: list = []
        self.seq = 0
        self.now = 0
        self.trace = hashlib.sha256()
        self.violations: list[str] = []
        self.signed_votes: dict[tuple[bytes, int, int, str], bytes] = {}
        self.crashes = 0
        self.committed: dict[int, tuple[bytes, bytes]] = {}   # height -> (block hash, state root), first honest commit
        self.views_entered: dict[tuple[int, int], None] = {}
        self.messages = 0
        self.healed = False
        self.heal_height = 0
        self.history_height = 0
        self.live_at_ms: int | None = None
        self.submitted: dict[str, int] = {}
        self.latencies_ms: list[int] = []
        self.tx_committed = 0
        self.partition_groups: list[int] | None = None   # node index -> group id, while cut
        self.partition_kind = config.partition
        self.reached_target = False

    # -- scheduling -----------------------------------------------------------------------

    def at(self, time_ms: int, kind: str, *payload) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (time_ms, self.seq, kind, payload))

    def now_ms(self, i: int) -> int:
        return GENESIS_TIME_MS + self.now + self.nodes[i].skew_ms

    def _schedule(self) -> None:
        cfg = self.cfg
        if self.twin_of:
            self.at(0, "partition")
        elif cfg.partition != "none":
            self.at(self.rng.randint(0, cfg.heal_ms // 2), "partition")
        if cfg.fault != "none":
            self.at(self.rng.randint(cfg.heal_ms // 4, cfg.heal_ms // 2), "fault")
        self.at(cfg.heal_ms, "heal")
        if cfg.crash_rate > 0:
            moment = 0.0
            while True:
                moment += self.rng.expovariate(cfg.crash_rate) * 1000
                if moment >= cfg.heal_ms:
                    break
                self.at(int(moment), "crash")
        for index, tx in enumerate(self._prepare_workload()):
            self.at(int(index * 1000 / cfg.tx_rate), "tx", tx)
        for node in self.nodes:
            if node.strategy is not None and node.strategy.tick_ms() is not None:
                self.at(node.strategy.tick_ms(), "byzantine", node.index)

    def _prepare_workload(self) -> list:
        """Commit the certified history to every replica's store and return the
        pre-signed mix, in submission order."""
        cfg = self.cfg
        count = int(cfg.tx_rate * cfg.duration_ms / 1000) if cfg.shoppers else 0
        workload = build_workload(self.world, count, random.Random(self.rng.getrandbits(64)))
        history = certify_history(self.world, workload.history)
        self.history_height = len(history)
        first = self.nodes[0]
        app = ChainApplication(first.store, self.genesis, self.verifier)
        for block, certificate in history:
            app.persist_block(block, certificate)
        for node in self.nodes[1:]:
            node.disk = first.disk.clone()
        if history:
            # every validator signed the history's certificates: its sign_state says so
            last_block, last_certificate = history[-1]
            signed = HeightSigns(last_block.height, commit=(last_certificate.view, last_block.hash()))
            for node in self.nodes:
                node.sign_state = SignState(self.chain_id, node.key.public_key, signed)
        return workload.mix(count)

    # -- the network ------------------------------------------------------------------------

    def peers(self, i: int) -> list[int]:
        """Every other replica, the replicas of i's own key excepted."""
        return self.peer_lists[i]

    def reachable(self, src: int, dst: int) -> bool:
        if not self.blocked and not self.bans and self.partition_groups is None:
            return True
        if (src, dst) in self.blocked or (dst, src) in self.blocked:
            return False
        if (src, dst) in self.bans or (dst, src) in self.bans:
            return False
        groups = self.partition_groups
        if groups is None:
            return True
        if self.partition_kind == "ring":
            n = len(self.nodes)
            return (dst - src) % n in (1, n - 1)
        return groups[src] == groups[dst]

    def linked(self, i: int, j: int) -> bool:
        """Whether i and j hold a connection: both run and the network joins them."""
        return (self.nodes[i].core is not None and self.nodes[j].core is not None
                and self.reachable(i, j) and self.reachable(j, i))

    def _latency(self) -> int:
        low, high = self.cfg.latency_ms
        delay = self.rng.randint(low, high)
        if not self.healed and self.cfg.reorder and self.rng.random() < self.cfg.reorder:
            delay += self.rng.randint(0, 5 * high)
        return delay

    def send(self, src: int, dst: int, kind: str, raw: bytes, raw_id: bytes | None = None) -> None:
        """``raw_id`` is ``message_id(kind, raw)`` when the caller has it (one
        broadcast's copies share it)."""
        if not self.reachable(src, dst):
            return
        if not self.healed and self.cfg.drop and self.rng.random() < self.cfg.drop:
            return
        if raw_id is None:
            raw_id = message_id(kind, raw)
        self.at(self.now + self._latency(), "deliver", src, dst, kind, raw, raw_id)
        if not self.healed and self.cfg.duplicate and self.rng.random() < self.cfg.duplicate:
            self.at(self.now + self._latency(), "deliver", src, dst, kind, raw, raw_id)

    def emit(self, i: int, destinations: list[int], kind: str, raw: bytes, raw_id: bytes | None = None) -> None:
        """What node i sends; a Byzantine strategy rewrites its consensus messages."""
        strategy = self.nodes[i].strategy
        if strategy is not None:
            pairs = strategy.outgoing(kind, raw, destinations)
        else:
            if kind == KIND_CONSENSUS:
                self.check_own_vote(i, raw)
            pairs = [(dst, raw) for dst in destinations]
        raw_id = raw_id or message_id(kind, raw)
        for dst, payload in pairs:
            self.send(i, dst, kind, payload, raw_id if payload is raw else None)

    def check_own_vote(self, i: int, raw: bytes) -> None:
        """Double-sign check: an honest replica never signs two votes for
        different blocks at one (height, view, phase), across crashes too;
        a proposal's and a NEW-VIEW's PREPARE included."""
        try:
            message = self.settings.decoder(raw)
        except ConsensusError:
            return
        if isinstance(message, Proposal):
            vote = message.prepare_vote()
        elif isinstance(message, NewView):
            vote = message.proposal.prepare_vote()
        elif isinstance(message, Vote):
            vote = message
        else:
            return
        signed = self.signed_votes.setdefault((vote.validator, vote.height, vote.view, vote.phase), vote.block_hash)
        if signed != vote.block_hash:
            self.violations.append(f"t={self.now}ms honest replica {i} signed two {vote.phase} votes at height "
                                   f"{vote.height} view {vote.view}: {signed.hex()[:16]} and {vote.block_hash.hex()[:16]}")

    def _connect(self, pairs: list[tuple[int, int]]) -> None:
        for i, j in pairs:
            self.nodes[i].core.on_peer_connected(self.nodes[j].key.public_key)
            self.nodes[j].core.on_peer_connected(self.nodes[i].key.public_key)

    def _disconnect(self, pairs: list[tuple[int, int]]) -> None:
        for i, j in pairs:
            for a, b in ((i, j), (j, i)):
                core = self.nodes[a].core
                if core is not None:
                    core.on_peer_disconnected(self.nodes[b].key.public_key)

    def _links(self) -> list[tuple[int, int]]:
        n = len(self.nodes)
        return [(i, j) for i in range(n) for j in range(i + 1, n) if self.linked(i, j)]

    def _cut(self) -> None:
        n = len(self.nodes)
        before = self._links()
        order = list(range(n))
        self.rng.shuffle(order)
        groups = [0] * n
        if self.twin_of:
            self.partition_kind = "twins"      # each replica of a twinned key with half of the others
            sides = [i for i in order if i not in self.twin_of]
            for i in sides[: len(sides) // 2]:
                groups[i] = 1
            for i, twin in self.twin_of.items():
                if i < twin:
                    groups[twin] = 1 - groups[i]
        elif self.cfg.partition == "half":
            for i in order[: n // 2]:
                groups[i] = 1
        elif self.cfg.partition == "isolate":
            lonely = self.rng.choice([node.index for node in self.honest])
            groups[lonely] = 1
        self.partition_groups = groups
        self._disconnect([pair for pair in before if not self.linked(*pair)])

    # -- nodes --------------------------------------------------------------------------------

    def start(self, i: int) -> None:
        node = self.nodes[i]
        store = BlockStore(node.disk)      # fresh over the disk: nothing cached from before a crash
        mempool = Mempool(MempoolLimits(), lambda sender: get_nonce(store.state(), sender),
                          lambda: get_param(store.state(), "tx_bytes_max"), self.tx_decoder,
                          lambda tx, registration_pending: check_admission(tx, store.state(), registration_pending))
        app = ChainApplication(store, self.genesis, self.verifier, self.tx_decoder)
        node.timers = {}
        node.seen = SeenCache(PeerLimits().seen_cache_max)
        node.core = NodeCore(self.genesis, node.key, store, app, mempool, node.sign_state, self.settings,
                             _SimHost(self, i), _InlineWorker())
        node.core.on_committed.append(lambda committed, i=i: self._on_commit(i, committed))
        if not node.byzantine:
            node.core.on_view_change.append(lambda height, view, moved: self.views_entered.setdefault((height, view)))
        node.core.start()
        self._connect([(i, j) for j in self.peers(i) if self.linked(i, j)])

    def crash(self, i: int, forget_sign_state: bool = False, down_ms: int = 500) -> None:
        """Memory lost (core, replica, mempool, executions); the store (and unless
        ``forget_sign_state``, the sign state) kept."""
        node = self.nodes[i]
        core = node.core
        if core is None:
            return
        peers = [j for j in self.peers(i) if self.linked(i, j)]
        core.stop()
        node.core = None
        node.timers = {}
        self.crashes += 1
        if forget_sign_state:
            node.sign_state = None
        self._disconnect([(i, j) for j in peers])
        for banned in [pair for pair in self.bans if pair[0] == i]:    # a node's bans live in its memory
            del self.bans[banned]
            self.ban_backoffs.pop(banned, None)
        self.at(self.now + down_ms, "restart", i)

    def crash_after_persist(self, node: SimNode) -> None:
        """The worst moment for double signing: the sign state is on disk, the
        message not yet sent. Restarted, the replica must not sign otherwise."""
        p = self.cfg.crash_after_persist
        if p and not node.byzantine and not self.healed and self.rng.random() < p:
            self.crash(node.index, down_ms=self.rng.randint(50, 1000))

    def halted(self, i: int, reason: str) -> None:
        node = self.nodes[i]
        if node.byzantine:
            node.broken = reason
        else:
            self.violations.append(f"t={self.now}ms replica {i} halted: {reason}")
        self.crash(i)
        self.queue = [event for event in self.queue if not (event[2] == "restart" and event[3] == (i,))]
        heapq.heapify(self.queue)

    # -- disk and sync faults -----------------------------------------------------------------

    def _fault(self) -> None:
        live = [node.index for node in self.honest if node.core is not None]
        if not live:
            return
        fault = self.cfg.fault
        if fault == "wipe":
            victim = self.rng.choice(live)
            self.nodes[victim].wipe_armed = True
            self.at(self.now + 5000, "wipe", victim)      # if it signs no such COMMIT before then
        elif fault == "lost-write":
            self._lose_write(self.rng.choice(live))
        elif fault == "lost-write-all":
            for i in live:
                self._lose_write(i)
        elif fault == "sync-partition":
            victim = self.rng.choice(live)
            down_ms = self.rng.randint(2000, 4000)
            self.crash(victim, down_ms=down_ms)
            self.at(self.now + down_ms + self.rng.randint(1, 2 * self.cfg.latency_ms[1]), "sync-cut", victim)

    def worst_height(self, height: int) -> bool:
        """Where a wipe hurts most: a height a Byzantine validator proposes at
        (it may equivocate), or any height when none is Byzantine."""
        byzantine = {node.key.public_key for node in self.nodes if node.byzantine}
        return not byzantine or self.validators.primary(height, 0) in byzantine

    def wipe(self, i: int) -> None:
        """The node loses its whole database (its sign_state file stays) and
        comes back empty, to catch up by block sync from genesis."""
        node = self.nodes[i]
        if not node.wipe_armed:
            return
        node.wipe_armed = False
        self._fault_applied(f"t={self.now}ms wipe {i}")
        self.crash(i, down_ms=self.rng.randint(100, 1000))
        node.disk = SimDisk()

    def _lose_write(self, i: int) -> None:
        """A crash loses the last batch written: the node reopens a height behind."""
        self._fault_applied(f"t={self.now}ms lost-write {i}")
        self.crash(i, down_ms=self.rng.randint(100, 1000))
        self.nodes[i].disk.lose_last_batch()

    def _sync_cut(self, victim: int) -> None:
        """While the victim syncs, cut it off from all its peers but one for a while."""
        peers = self.peers(victim)
        kept = peers[self.rng.randrange(len(peers))]
        cut = [(victim, j) for j in peers if j != kept]
        linked = [pair for pair in cut if self.linked(*pair)]
        self._fault_applied(f"t={self.now}ms sync-partition {victim} keeps {kept}")
        self.blocked.update(cut)
        self._disconnect(linked)
        self.at(self.now + self.rng.randint(500, 2000), "sync-uncut")

    def _fault_applied(self, what: str) -> None:
        self.faults.append(what)
        self.trace.update(what.encode())

    def _sync_uncut(self) -> None:
        before = set(self._links())
        self.blocked.clear()
        self._connect([pair for pair in self._links() if pair not in before])

    def set_timer(self, i: int, name: str, delay_ms: int) -> None:
        node = self.nodes[i]
        self.seq += 1
        node.timers[name] = self.seq
        self.at(self.now + delay_ms, "timer", i, name, self.seq)

    # -- commits and the safety check -----------------------------------------------------

    def _on_commit(self, i: int, committed: CommittedBlock) -> None:
        block = committed.block
        height = block.height
        if not self.nodes[i].byzantine and height not in self.committed:   # counted at the first honest commit
            for tx in committed.txs:
                submitted = self.submitted.pop(tx.id, None)
                if submitted is not None:
                    self.latencies_ms.append(self.now - submitted)
                self.tx_committed += 1
        self._check_commit(i, block)

    def _check_commit(self, i: int, block) -> None:
        node = self.nodes[i]
        block_hash = block.hash()
        self.trace.update(b"commit %d %d " % (i, block.height) + block_hash)
        if node.byzantine:
            return
        state_root = node.store.last_state_root()
        if state_root != block.header.state_root:
            self.violations.append(f"height {block.height}: replica {i} reached state root {state_root.hex()[:16]}, "
                                   f"the block says {block.header.state_root.hex()[:16]}")
        known = self.committed.setdefault(block.height, (block_hash, state_root))
        if known[0] != block_hash:
            self.violations.append(f"height {block.height}: honest replica {i} committed block {block_hash.hex()[:16]}, "
                                   f"another honest replica committed {known[0].hex()[:16]}")
        elif known[1] != state_root:
            self.violations.append(f"height {block.height}: honest replica {i} reached state root "
                                   f"{state_root.hex()[:16]}, another honest replica {known[1].hex()[:16]}")
        if self.healed and self.live_at_ms is None and self._all_live():
            self.live_at_ms = self.now
        if self.cfg.target_height and block.height >= self.cfg.target_height and not self.reached_target:
            self.reached_target = all(stored_height(peer.disk) >= self.cfg.target_height for peer in self.honest)

    # -- the phases ---------------------------------------------------------------------------

    def _heal(self) -> None:
        self.healed = True
        before = set(self._links())
        self.partition_groups = None
        self.blocked.clear()
        self.heal_height = max(stored_height(node.disk) for node in self.honest)
        self._connect([pair for pair in self._links() if pair not in before])
        for node in self.honest:
            if node.core is None and node.broken is None:
                self.start(node.index)

    def _all_live(self) -> bool:
        return all(stored_height(node.disk) > self.heal_height for node in self.honest)

    def _step(self, kind: str, payload: tuple) -> None:
        if kind == "deliver":
            self._deliver(*payload)
        elif kind == "timer":
            i, name, token = payload
            node = self.nodes[i]
            if node.core is not None and node.timers.get(name) == token:
                node.core.on_timer(name)
        elif kind == "tx":
            self._submit(payload[0])
        elif kind == "restart":
            i = payload[0]
            if self.nodes[i].core is None and self.nodes[i].broken is None:
                self.start(i)
        elif kind == "crash":
            self._random_crash()
        elif kind == "byzantine":
            strategy = self.nodes[payload[0]].strategy
            strategy.tick()
            self.at(self.now + strategy.tick_ms(), "byzantine", payload[0])
        elif kind == "partition":
            self._cut()
        elif kind == "heal":
            self._heal()
        elif kind == "fault":
            self._fault()
        elif kind == "wipe":
            self.wipe(payload[0])
        elif kind == "sync-cut":
            self._sync_cut(payload[0])
        elif kind == "sync-uncut":
            self._sync_uncut()
        elif kind == "unban":
            self._unban(*payload)

    def _deliver(self, src: int, dst: int, kind: str, raw: bytes, gossip_id: bytes) -> None:
        node = self.nodes[dst]
        if node.core is None or not self.linked(src, dst):
            return
        if kind == KIND_CONSENSUS:
            self.messages += 1
            if node.strategy is not None:
                node.strategy.on_received(raw)
        self.trace.update(b"msg %d %d " % (src, dst) + gossip_id)
        if kind in GOSSIP_KINDS and not node.seen.add(gossip_id):
            return      # an echo: the node's network drops it before the node sees it
        try:
            node.core.on_message(self.nodes[src].key.public_key, kind, raw)
        except PeerError as error:
            self.trace.update(b"peer-error %d %d %s" % (dst, src, error.code.encode()))
            self._ban(dst, src)

    def _ban(self, i: int, peer: int) -> None:
        """As the node's network does with a peer whose message proves it
        broken: drop the link and refuse it for a backoff that doubles with
        each offence (p2p.backoff.Backoff, the node's own)."""
        limits = PeerLimits()
        backoff = self.ban_backoffs.setdefault(
            (i, peer), Backoff(limits.ban_base_s * 1000, limits.ban_cap_s * 1000, self.rng))
        linked = self.linked(i, peer)
        until = self.now + int(backoff.next_delay_s())
        self.bans[(i, peer)] = until
        if linked:
            self._disconnect([(i, peer)])
        self.at(until, "unban", i, peer)

    def _unban(self, i: int, peer: int) -> None:
        if self.bans.get((i, peer), self.now + 1) <= self.now:
            del self.bans[(i, peer)]
            if self.linked(i, peer):
                self._connect([(i, peer)])

    def _submit(self, tx) -> None:
        """A client sends the transaction to one running validator, which
        admits it and gossips it to its peers."""
        self.submitted[tx.id] = self.now
        running = [node for node in self.nodes if node.core is not None]
        if not running:
            return
        node = running[self.rng.randrange(len(running))]
        try:
            node.core.submit(tx.raw)
        except RequestRejected:
            pass

    def _random_crash(self) -> None:
        live = [node.index for node in self.honest if node.core is not None]
        if live:
            self.crash(self.rng.choice(live), down_ms=self.rng.randint(100, 2000))

    def run(self) -> SimReport:
        self._schedule()      # pre-signs the workload: not timed
        wall_start = time.perf_counter()
        for node in self.nodes:
            if node.strategy is None or node.strategy.starts():
                self.start(node.index)
        deadline = self.cfg.duration_ms
        bound = self.cfg.heal_ms + self.cfg.liveness_bound_ms
        while self.queue and not self.reached_target:
            moment = self.queue[0][0]
            if moment > deadline and (self.live_at_ms is not None or moment > bound or self.violations):
                break
            self.now, _, kind, payload = heapq.heappop(self.queue)
            self._step(kind, payload)
        heights = [stored_height(node.disk) for node in self.honest]
        return SimReport(
            self.cfg, min(heights), max(heights), self.history_height, len(self.submitted) + len(self.latencies_ms), self.tx_committed,
            self.latencies_ms, len(self.views_entered), self.violations,
            liveness_ok=self.live_at_ms is not None,
            liveness_ms=None if self.live_at_ms is None else self.live_at_ms - self.cfg.heal_ms,
            trace_hash=self.trace.hexdigest(), messages=self.messages, virtual_ms=self.now,
            wall_s=time.perf_counter() - wall_start, faults=self.faults)


def run(config: SimConfig) -> SimReport:
    return Simulation(config).run()
