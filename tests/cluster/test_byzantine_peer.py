"""A Byzantine validator speaking the real protocol to real node processes.

Three honest validators (node0..node2) run as child processes on loopback;
node3 is not started: its key is held by a Byzantine peer inside the test (a
``PeerNetwork`` listening on node3's p2p address, so the honest nodes dial
it as their persistent peer node3). The peer keeps its own copy of the chain
through block sync, logs every consensus message it receives (each vote's
signature checked) and, as the view-0 primary of height H, equivocates:

1. node0 has committed H-1: the peer sends proposal A for (H, 0) to node0
   alone, and node0 PREPAREs A (its sign_state holds the record).
2. node0 is killed (SIGKILL), its ``data/`` deleted (``sign_state`` kept),
   and it is started again; it resyncs to H-1 (without node0 or node3 the
   other two cannot commit H, and their view timers are long).
3. The peer offers node0 block B at the same (H, 0). node0 must not vote
   for it: the signing floor (docs/protocol.md section 10, "Signing state").
4. node0 leaves view 0 only through a view timer, seconds after it handled B;
   its VIEW-CHANGE for (H, 1) ends the wait, and the chain commits H in a
   later view with a third block.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp import web

from chain.constants import PHASE_COMMIT, PHASE_PREPARE
from chain.votes import Vote
from consensus.messages import (
    CertificateMessage, Evidence, NewView, Proposal, ViewChange, decode_message, encode_message, sign_proposal,
)
from node.application import ChainApplication
from node.cluster import Cluster
from node.core import decode_status, encode_status
from node.home import open_home
from node.sign_state_file import SignStateFile
from p2p.network import NetworkConfig, PeerNetwork
from p2p.sync import (
    CertifiedBlock, decode_sync_request, decode_sync_response, encode_sync_request, encode_sync_response,
    verify_certified_block,
)
from p2p.wire import KIND_CONSENSUS, KIND_STATUS, KIND_SYNC_REQUEST, KIND_SYNC_RESPONSE
from storage.blockstore import BlockStore
from storage.memory import MemoryStore
from tests.cluster.clusterutil import block_hash, lose_data, run, running_testnet, wait_height

pytestmark = pytest.mark.slow

HONEST = ["node0", "node1", "node2"]
# Long enough that node0 is killed, wiped, restarted and resynced (about two
# seconds here) before anyone's view timer at H fires; the test then waits
# for that timer once, so it also sets the run time.
VIEW_TIMEOUT_MS = 8_000
STEP_DEADLINE_S = 30.0

FRAME_BYTES_MAX = 16 * 1024 * 1024   # p2p.frame_bytes_max's default


@dataclass(frozen=True, slots=True)
class Received:
    seq: int
    at_s: float
    link: bytes          # the peer whose link carried it
    message: Any         # a decoded consensus message


class ByzantinePeer:
    """node3's key on node3's address, with a log of what it hears."""

    def __init__(self, home_path: Path) -> None:
        home = open_home(home_path)
        self.key = home.key
        self.genesis = home.genesis
        self.chain_id = home.genesis.chain_id
        self.validators = home.genesis.validators
        self.limits = home.config.p2p
        self.port = home.config.p2p.listen_port
        self.store = BlockStore(MemoryStore())
        self.app = ChainApplication(self.store, self.genesis)
        self.network = PeerNetwork(self.key, NetworkConfig(self.chain_id, f"127.0.0.1:{self.port}", self.limits), self)
        self.log: list[Received] = []
        self.bad_votes: list[Any] = []      # votes whose signature did not verify (none expected)
        self.status: dict[bytes, int] = {}   # each connected peer's committed height
        self.connects: dict[bytes, int] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/p2p", self.network.websocket_handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        await self.network.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the network's handler ----------------------------------------------------------

    def on_peer_connected(self, peer_key: bytes) -> None:
        self.connects[peer_key] = self.connects.get(peer_key, 0) + 1
        self.network.send(peer_key, KIND_STATUS, encode_status(self.store.last_height()))
        self._changed.set()

    def on_peer_disconnected(self, peer_key: bytes) -> None:
        self.status.pop(peer_key, None)
        self._changed.set()

    def on_message(self, peer_key: bytes, kind: str, payload: bytes) -> None:
        if kind == KIND_CONSENSUS:
            message = decode_message(payload, len(self.validators), self.limits.frame_bytes_max)
            self.log.append(Received(len(self.log), time.monotonic(), peer_key, message))
            self.bad_votes += [vote for vote in signed_votes(message) if not vote.verify(self.chain_id)]
        elif kind == KIND_STATUS:
            self.status[peer_key] = decode_status(payload)
        elif kind == KIND_SYNC_REQUEST:   # served like an honest node: committed blocks we hold
            from_height, count = decode_sync_request(payload)
            last = min(self.store.last_height(), from_height + count - 1)
            blocks = [CertifiedBlock(self.store.block_by_height(h), self.store.certificate(h)) for h in range(from_height, last + 1)]
            self.network.send(peer_key, KIND_SYNC_RESPONSE, encode_sync_response(blocks, FRAME_BYTES_MAX))
        elif kind == KIND_SYNC_RESPONSE:
            self._take_blocks(payload)
        self._changed.set()

    def _take_blocks(self, payload: bytes) -> None:
        for block_bytes, certificate_bytes in decode_sync_response(payload, self.limits.frame_bytes_max, self.limits.sync_batch_blocks):
            item = verify_certified_block(block_bytes, certificate_bytes, self.validators, self.chain_id,
                                          self.genesis.params["block_bytes_max"])
            if item.height == self.store.last_height() + 1 and item.block.header.prev_hash == self.store.last_block_hash():
                self.app.persist_block(item.block, item.certificate)

    # -- waiting on what arrives ------------------------------------------------------------

    async def until(self, predicate: Callable[[], Any], what: str, deadline_s: float = STEP_DEADLINE_S) -> Any:
        """The first truthy value of ``predicate``, re-checked as messages arrive."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while True:
            value = predicate()
            if value:
                return value
            remaining = end - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{what}: not seen within {deadline_s} s; the peer heard:\n{self.describe()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def sync_from(self, peer: bytes, height: int) -> None:
        while self.store.last_height() < height:
            start = self.store.last_height() + 1
            self.network.send(peer, KIND_SYNC_REQUEST, encode_sync_request(start, min(self.limits.sync_batch_blocks, height - start + 1)))
            await self.until(lambda: self.store.last_height() >= start, f"blocks from {start} synced")

    # -- what it sends ------------------------------------------------------------------------

    def proposal(self, height: int, not_before_ms: int = 0) -> Proposal:
        """A valid view-0 proposal of a fresh empty block at ``height`` on our chain."""
        assert self.store.last_height() == height - 1
        last_time = self.store.block_by_height(height - 1).header.time_ms if height > 1 else self.genesis.genesis_time_ms
        time_ms = max(int(time.time() * 1000), last_time + 1, not_before_ms)
        block = self.app.build_block(height, self.store.last_block_hash(), time_ms, self.key.public_key, (), ())
        return sign_proposal(self.key, self.chain_id, height, 0, block)

    def send_consensus(self, peer: bytes, message: Any) -> None:
        assert self.network.send(peer, KIND_CONSENSUS, encode_message(message)), "the victim is not connected"

    # -- reading the log -------------------------------------------------------------------------

    def votes(self, validator: bytes, height: int, since: int = 0) -> list[tuple[int, Vote]]:
        return [(entry.seq, vote) for entry in self.log[since:] for vote in signed_votes(entry.message)
                if vote.validator == validator and vote.height == height and vote.verify(self.chain_id)]

    def view_changes(self, height: int, since: int = 0) -> list[tuple[int, ViewChange]]:
        return [(entry.seq, entry.message) for entry in self.log[since:]
                if isinstance(entry.message, ViewChange) and entry.message.height == height]

    def describe(self) -> str:
        return "\n".join(f"  #{e.seq} via {e.link.hex()[:8]}: {summary(e.message)}" for e in self.log[-60:]) or "  (nothing)"


def signed_votes(message: Any) -> list[Vote]:
    """Every PREPARE and COMMIT signature a consensus message carries, as votes."""
    if isinstance(message, Vote):
        return [message]
    if isinstance(message, Proposal):
        return [message.prepare_vote()]
    if isinstance(message, NewView):
        return [message.proposal.prepare_vote()] + [v for vc in message.view_changes for v in signed_votes(vc)]
    if isinstance(message, ViewChange) and message.prepared is not None:
        p = message.prepared
        return [Vote(PHASE_PREPARE, p.height, p.view, p.block_hash, k, s) for k, s in p.signatures]
    if isinstance(message, CertificateMessage):
        c = message.certificate
        return [Vote(PHASE_COMMIT, c.height, c.view, c.block_hash, k, s) for k, s in c.signatures]
    if isinstance(message, Evidence):
        return [message.first, message.second]
    return []


def summary(message: Any) -> str:
    if isinstance(message, Vote):
        return f"{message.phase} h={message.height} v={message.view} {message.block_hash.hex()[:8]} by {message.validator.hex()[:8]}"
    if isinstance(message, Proposal):
        return f"proposal h={message.height} v={message.view} {message.block.hash().hex()[:8]} by {message.signer.hex()[:8]}"
    if isinstance(message, ViewChange):
        return f"view-change h={message.height} v={message.view} by {message.validator.hex()[:8]}"
    if isinstance(message, NewView):
        return f"new-view h={message.height} v={message.view} {message.proposal.block.hash().hex()[:8]} by {message.validator.hex()[:8]}"
    return type(message).__name__


def test_wiped_validator_does_not_vote_for_a_second_block_at_the_height_and_view_it_voted_in(tmp_path):
    # node3's key is the Byzantine peer's: the harness starts no node here, the scenario starts the honest ones.
    with running_testnet(tmp_path / "net", params={"view_timeout_ms": VIEW_TIMEOUT_MS}, start=[],
                         chain_id="shopchain-byzantine") as cluster:
        run(_scenario(cluster, {node.name: node.home for node in cluster.testnet.nodes}))


async def _scenario(cluster: Cluster, homes: dict[str, Path]) -> None:
    peer = ByzantinePeer(homes["node3"])
    victim = open_home(homes["node0"]).key.public_key
    validators = peer.validators
    # H: the first height from 3 on where node3 is the view-0 primary; below
    # it the honest primaries propose, so the chain gets there in view 0.
    H = next(h for h in range(3, 100) if validators.primary(h, 0) == peer.key.public_key)
    assert all(validators.primary(h, 0) != peer.key.public_key for h in range(1, H))
    await peer.start()
    try:
        for name in HONEST:
            cluster.start(name)
        for name in HONEST:
            await asyncio.to_thread(cluster.wait_ready, name)

        # 1. node0 is at H (view 0, waiting for node3's proposal): offer it A.
        await peer.until(lambda: peer.status.get(victim, -1) >= H - 1, f"node0 committing {H - 1}")
        assert peer.status[victim] == H - 1
        await peer.sync_from(victim, H - 1)
        a = peer.proposal(H)
        peer.send_consensus(victim, a)
        a_hash = a.block.hash()
        await peer.until(lambda: any(v.phase == PHASE_PREPARE and (v.view, v.block_hash) == (0, a_hash)
                                     for _, v in peer.votes(victim, H)), f"node0's PREPARE for A at ({H}, 0)")
        assert not peer.view_changes(H), "someone left view 0 of H before the wipe; VIEW_TIMEOUT_MS is too short here"

        # 2. SIGKILL node0, wipe data/ (sign_state stays), start it, let it resync.
        connects_before = peer.connects[victim]
        cluster.kill("node0")
        wiped_at = len(peer.log)
        await peer.until(lambda: victim not in peer.network.peers(), "node0's link closing after the kill")
        lose_data(cluster, "node0")
        victim_home = open_home(homes["node0"])
        kept = SignStateFile(victim_home.sign_state_path, victim_home.genesis.chain_id, victim_home.key.public_key).read()
        assert kept.latest is not None and (kept.latest.height, kept.latest.prepare) == (H, (0, a_hash))
        cluster.start("node0")
        await asyncio.to_thread(cluster.wait_ready, "node0")
        await peer.until(lambda: peer.connects[victim] > connects_before and peer.status.get(victim, -1) >= H - 1,
                         f"node0 resynced to {H - 1} after the wipe")
        assert peer.status[victim] == H - 1
        # Nobody has left view 0 of H: node0 (its view floor at H is 0) is in it.
        assert not peer.view_changes(H), "a view change at H began before B was offered; VIEW_TIMEOUT_MS is too short here"

        # 3. The same (H, 0), another block.
        b = peer.proposal(H, not_before_ms=a.block.header.time_ms + 1)
        b_hash = b.block.hash()
        assert b_hash != a_hash
        offered_at = len(peer.log)
        offered_s = time.monotonic()
        peer.send_consensus(victim, b)

        # 4. node0 leaves view 0 of H only when a view timer fires (seconds after
        # it validated B, a job of milliseconds), or a vote for B shows up first.
        def moved_on_or_voted():
            return (any(v.block_hash == b_hash for _, v in peer.votes(victim, H, offered_at))
                    or any(vc.validator == victim and vc.view >= 1 for _, vc in peer.view_changes(H, offered_at)))
        await peer.until(moved_on_or_voted, f"node0 voting for B or leaving view 0 of {H}",
                         deadline_s=VIEW_TIMEOUT_MS / 1000 + STEP_DEADLINE_S)
        left_view_0_s = min(peer.log[seq].at_s for seq, _ in peer.view_changes(H, offered_at)) \
            if peer.view_changes(H, offered_at) else None
        # The chain commits H without node3: in a later view, with a third block.
        await wait_height(cluster, HONEST, H, deadline_s=STEP_DEADLINE_S)
        committed = bytes.fromhex(await block_hash(cluster, "node0", H))

        votes = peer.votes(victim, H)
        assert [(v.phase, v.view, v.block_hash) for seq, v in votes if seq < wiped_at] == [(PHASE_PREPARE, 0, a_hash)]
        for_b = [(v.phase, v.view) for _, v in votes if v.block_hash == b_hash]
        assert for_b == [], f"node0 voted for B at height {H} after the wipe: {for_b}"
        # Not vacuous by timing: node0 stayed in view 0 well after B reached it.
        assert left_view_0_s is not None and left_view_0_s - offered_s > 0.5, \
            "view 0 of H ended too soon after B was offered; VIEW_TIMEOUT_MS is too short here"
        assert committed not in (a_hash, b_hash)
        assert peer.bad_votes == []
    finally:
        await peer.close()
