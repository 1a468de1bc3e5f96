"""A deterministic in-test network of replicas driven by a tiny command language
(etcd raft's interaction tests): the harness prints every action."""
from __future__ import annotations

from dataclasses import dataclass, field

from chain.block import Block, Header
from chain.keys import KeyPair
from chain.merkle import merkle_root
from chain.validators import ValidatorSet
from chain.votes import Vote
from consensus.actions import (
    Broadcast, BuildProposal, Commit, Execute, PersistSignState, RequestSync, Send, SetTimer,
)
from consensus.messages import (
    NewView, Proposal, ViewChange, decode_message, encode_message, sign_new_view, sign_proposal,
)
from consensus.replica import Config, Replica
from consensus.sign_state import SignState

CHAIN = "test-chain"
ZERO = b"\0" * 32


def make_keys(n: int) -> list[KeyPair]:
    return [KeyPair(bytes([i + 1]) * 32) for i in range(n)]


def stub_block(height: int, prev_hash: bytes, time_ms: int, proposer: bytes, evidence=(), txs=(), tag: bytes = b"") -> Block:
    txs = tuple(txs) + ((tag,) if tag else ())
    header = Header(1, CHAIN, height, prev_hash, time_ms, proposer, len(txs), merkle_root(txs), ZERO,
                    merkle_root(tuple(evidence)), ZERO, ZERO, ZERO)
    return Block(header, txs, tuple(evidence))


class StubApp:
    """The application Protocol, stubbed: empty blocks, all valid unless marked."""

    def __init__(self) -> None:
        self.bad: set[bytes] = set()
        self.committed: list[Block] = []

    def build_block(self, height, prev_hash, time_ms, proposer, evidence):
        return stub_block(height, prev_hash, time_ms, proposer, evidence)

    def validate_block(self, block: Block) -> bool:
        return block.hash() not in self.bad

    def commit_block(self, block, certificate) -> None:
        self.committed.append(block)


@dataclass
class Node:
    index: int
    key: KeyPair
    replica: Replica | None
    app: StubApp = field(default_factory=StubApp)
    sign_state: bytes | None = None
    timers: dict = field(default_factory=dict)
    crash_after_persist: bool = False
    signed: list = field(default_factory=list)  # every message it ever sent, decoded


def short(h: bytes) -> str:
    return h[:3].hex()


class Network:
    def __init__(self, n: int, **config) -> None:
        self.keys = make_keys(n)
        self.validators = ValidatorSet.of(k.public_key for k in self.keys)
        self.config = Config(CHAIN, self.validators, **config)
        self.names = {k.public_key: f"r{i}" for i, k in enumerate(self.keys)}
        self.nodes = [Node(i, k, None) for i, k in enumerate(self.keys)]
        self.queue: list[tuple[int, int, bytes]] = []  # (src, dst, raw)
        self.isolated: set[int] = set()
        self.now = 0
        self.out: list[str] = []
        for node in self.nodes:
            node.replica = self._new_replica(node)

    # -- plumbing --------------------------------------------------------------------

    def _new_replica(self, node: Node) -> Replica:
        chain = node.app.committed
        prev = chain[-1].hash() if chain else ZERO
        last_time = chain[-1].header.time_ms if chain else 0
        state = SignState(CHAIN, node.key.public_key) if node.sign_state is None else SignState.decode(node.sign_state)
        return Replica(self.config, node.key, len(chain) + 1, prev, last_time, state)

    def describe(self, raw: bytes) -> str:
        m = decode_message(raw, len(self.validators), 1 << 24)
        if isinstance(m, Vote):
            return f"{m.phase.upper()} h={m.height} v={m.view} #{short(m.block_hash)}"
        if isinstance(m, Proposal):
            return f"PRE-PREPARE h={m.height} v={m.view} #{short(m.block.hash())} proposer={self.names[m.block.header.proposer]}"
        if isinstance(m, ViewChange):
            p = "-" if m.prepared is None else f"v{m.prepared.view}#{short(m.prepared.block_hash)}"
            return f"VIEW-CHANGE h={m.height} v={m.view} prepared={p}"
        if isinstance(m, NewView):
            return f"NEW-VIEW h={m.height} v={m.view} vcs={len(m.view_changes)} #{short(m.proposal.block.hash())}"
        if type(m).__name__ == "CertificateMessage":
            return f"CERTIFICATE h={m.height} v={m.view} #{short(m.certificate.block_hash)}"
        return "EVIDENCE"

    def run(self, i: int, actions: list) -> None:
        node = self.nodes[i]
        name = f"r{i}"
        for k, action in enumerate(actions):
            if node.replica is None:
                return
            if isinstance(action, PersistSignState):
                node.sign_state = action.state
                self.out.append(f"{name}: Persist sign_state")
                if node.crash_after_persist:
                    self.out.append(f"{name}: CRASH after persist ({len(actions) - k - 1} actions lost)")
                    node.replica = None
                    node.crash_after_persist = False
                    node.timers = {}
                    return
            elif isinstance(action, Broadcast):
                self.out.append(f"{name}: Broadcast {self.describe(action.payload)}")
                node.signed.append(decode_message(action.payload, len(self.validators), 1 << 24))
                for j in range(len(self.nodes)):
                    if j != i:
                        self.queue.append((i, j, action.payload))
            elif isinstance(action, Send):
                self.out.append(f"{name}: Send to {self.names[action.to]} {self.describe(action.payload)}")
                self.queue.append((i, self.validators.index_of(action.to), action.payload))
            elif isinstance(action, SetTimer):
                node.timers[action.kind] = (action.height, action.view, action.delay_ms)
                self.out.append(f"{name}: SetTimer {action.kind} h={action.height} v={action.view} {action.delay_ms}ms")
            elif isinstance(action, BuildProposal):
                self.out.append(f"{name}: BuildProposal h={action.height} v={action.view} t={action.time_ms} ev={len(action.evidence)}")
                block = node.app.build_block(action.height, action.prev_hash, action.time_ms, node.key.public_key, action.evidence)
                self.run(i, node.replica.on_proposal_built(block, self.now))
            elif isinstance(action, Execute):
                ok = node.app.validate_block(action.block)
                self.out.append(f"{name}: Execute #{short(action.block.hash())} -> {'ok' if ok else 'invalid'}")
                self.run(i, node.replica.on_block_validated(action.block.hash(), ok, self.now))
            elif isinstance(action, Commit):
                node.app.commit_block(action.block, action.certificate)
                c = action.certificate
                self.out.append(f"{name}: Commit h={c.height} v={c.view} #{short(c.block_hash)} sigs={len(c.signatures)}")
            elif isinstance(action, RequestSync):
                self.out.append(f"{name}: RequestSync from={action.from_height} cert_h={action.certificate.height}")
            else:  # pragma: no cover
                raise AssertionError(action)

    def deliver(self, only: set[int] | None = None, limit: int = 10_000, drop: str | None = None) -> None:
        steps = 0
        while True:
            pick = next((m for m in self.queue if only is None or m[1] in only), None)
            if pick is None or steps >= limit:
                return
            self.queue.remove(pick)
            steps += 1
            src, dst, raw = pick
            if src in self.isolated or dst in self.isolated or self.nodes[dst].replica is None:
                continue
            if drop is not None and self.describe(raw).startswith(drop):
                continue
            self.run(dst, self.nodes[dst].replica.on_message(raw, self.now))

    # -- the command language -------------------------------------------------------------

    def command(self, line: str) -> None:
        words = line.split()
        cmd, args = words[0], words[1:]
        opts = dict(a.split("=", 1) for a in args if "=" in a)
        targets = [int(a[1:]) for a in args if a.startswith("r") and "=" not in a]
        if cmd == "start":
            for i in targets or range(len(self.nodes)):
                self.run(i, self.nodes[i].replica.start(self.now))
        elif cmd == "deliver":
            if opts.get("reverse"):
                self.queue.reverse()
            self.deliver(set(targets) if targets else None, drop=opts.get("drop"))
        elif cmd == "drop":
            kind = opts.get("kind")
            self.queue = [m for m in self.queue if not (
                (not targets or m[1] in targets) and (kind is None or self.describe(m[2]).startswith(kind)))]
        elif cmd == "tick":
            for i in targets or range(len(self.nodes)):
                node = self.nodes[i]
                kind = opts.get("kind", "view")
                if node.replica is None or kind not in node.timers:
                    continue
                h, v, delay = node.timers.pop(kind)
                self.now = max(self.now, int(opts.get("now", self.now)))
                self.run(i, node.replica.on_timer(kind, h, v, self.now))
        elif cmd == "advance":
            self.now += int(args[0])
        elif cmd == "isolate":
            self.isolated.update(targets)
        elif cmd == "heal":
            self.isolated.clear()
        elif cmd == "crash-after-persist":
            for i in targets:
                self.nodes[i].crash_after_persist = True
        elif cmd == "crash":
            for i in targets:
                self.nodes[i].replica = None
                self.nodes[i].timers = {}
        elif cmd == "restart":
            for i in targets:
                self.nodes[i].replica = self._new_replica(self.nodes[i])
                self.run(i, self.nodes[i].replica.start(self.now))
        elif cmd == "mark-invalid":
            pass
        elif cmd == "bad-new-view":
            self._bad_new_view(targets[0], opts.get("choice", "fresh"))
        elif cmd == "certificate":
            self._show_certificate(targets[0], int(opts["height"]))
        elif cmd == "status":
            for node in self.nodes:
                r = node.replica
                if r is None:
                    self.out.append(f"r{node.index}: down committed={len(node.app.committed)}")
                    continue
                self.out.append(f"r{node.index}: h={r.height} v={r.view} vc={r.in_view_change} "
                                f"committed={[short(b.hash()) for b in node.app.committed]} queue={sum(1 for m in self.queue if m[1] == node.index)}")
        else:
            raise ValueError(f"unknown command {cmd}")

    def _bad_new_view(self, i: int, choice: str) -> None:
        """A Byzantine primary r{i} sends a NEW-VIEW whose proposal is not the required choice."""
        node = self.nodes[i]
        vcs = {}
        for (src, dst, raw) in self.queue:
            m = decode_message(raw, len(self.validators), 1 << 24)
            if isinstance(m, ViewChange) and dst == i:
                vcs[m.validator] = m
        for m in node.signed:
            if isinstance(m, ViewChange):
                vcs[m.validator] = m
        chosen = tuple(sorted(vcs.values(), key=lambda vc: self.validators.index_of(vc.validator)))
        h, v = chosen[0].height, chosen[0].view
        prev = node.app.committed[-1].hash() if node.app.committed else ZERO
        block = stub_block(h, prev, self.now + 1, node.key.public_key, tag=b"byzantine")
        proposal = sign_proposal(node.key, CHAIN, h, v, block)
        nv = sign_new_view(node.key, CHAIN, h, v, chosen, proposal)
        raw = encode_message(nv)
        self.out.append(f"r{i}: (byzantine) Broadcast {self.describe(raw)}")
        for j in range(len(self.nodes)):
            if j != i:
                self.queue.append((i, j, raw))

    def _show_certificate(self, i: int, height: int) -> None:
        pass


def run_script(text: str) -> str:
    """Run a transcript: '> command' lines; returns the transcript with fresh output."""
    net: Network | None = None
    result: list[str] = []
    for line in text.splitlines():
        if not line.startswith(">") and not line.startswith("#") and line.strip():
            continue  # old output
        if not line.strip():
            continue
        result.append(line)
        if line.startswith("#"):
            continue
        command = line[1:].strip()
        if command.startswith("network"):
            words = command.split()
            opts = dict(a.split("=", 1) for a in words[1:])
            net = Network(int(opts.pop("n")), **{k: int(v) for k, v in opts.items()})
            continue
        assert net is not None
        net.out = []
        net.command(command)
        result.extend(net.out or ["ok"])
    return "\n".join(result) + "\n"
