"""The running node: the node core (node/core.py) driven by asyncio timers,
the peer network, the LevelDB store, a worker thread and the HTTP API.

This adapter decides nothing about consensus, sync or commit: it gives the
core a clock, timers, sends, the sign_state file and a worker, and feeds it
what the network and clients bring. The core and the replica are called only
on the event loop's thread; the slow steps the core hands to the worker
(writing the sign_state file, building, executing and persisting blocks) run
on one thread, in order, so the event loop keeps serving peers and clients
meanwhile. The application and the store are written by that worker alone.
RPC handlers read committed state and hand transactions to the core; they
never wait on consensus.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from aiohttp import web

from chain.errors import CodedError
from chain.keys import SignatureVerifier
from chain.transaction import SignedTransaction, TransactionDecoder
from commerce.executor import get_nonce
from commerce.records import get_param
from node.admission import check_admission
from node.application import ChainApplication, CommittedBlock
from node.core import CoreSettings, NodeCore, committed_timing
from node.events import topics_of
from node.explorer import add_explorer_route
from node.home import NodeHome
from node.health import HealthFacts, HealthLimits, assess
from node.http_api import add_health_route, add_http_api
from node.mempool import Mempool
from node.metrics import NodeMetrics, add_metrics_route
from node.rpc_gate import RpcGate, listen
from node.rpc_methods import ReadPools, build_method_table
from node.sign_state_file import SignStateFile
from node.subscriptions import SubscriptionHub
from node.vote_log import VOTE_LOG_FILE, VoteLog
from p2p.network import NetworkConfig, PeerAddress, PeerNetwork
from storage.blockstore import BlockStore, open_block_store

log = logging.getLogger("shopchain.node")

T = TypeVar("T")

# How long open connections get to finish when the node stops.
SHUTDOWN_GRACE_S = 1.0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ListenAddresses:
    p2p: str
    rpc: str


def parse_peer(spec: str) -> PeerAddress:
    """``ws://host:port/p2p`` or ``KEYHEX@ws://host:port/p2p``."""
    key_hex, at, url = spec.partition("@")
    if not at:
        return PeerAddress(spec)
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise CodedError("config.invalid", f"persistent peer {spec!r}: the part before @ is not a hex key") from None
    return PeerAddress(url, key)


class NodeRuntime:
    def __init__(self, home: NodeHome) -> None:
        self.home = home
        self.config = home.config
        self.genesis = home.genesis
        self.chain_id = home.genesis.chain_id
        self.key = home.key
        self.is_validator = home.key.public_key in home.genesis.validators
        self.store: BlockStore = open_block_store(home.data_dir, self.config.state.proof_window_blocks,
                                                  self.config.state.tree_memory_mb * 1024 * 1024)
        self.verifier = SignatureVerifier(self.config.mempool.verified_cache_max)   # the node's one signature cache
        decoder = TransactionDecoder(self.chain_id, self.verifier)
        self.mempool = Mempool(self.config.mempool, self._committed_nonce, lambda: get_param(self.store.state(), "tx_bytes_max"),
                               decoder, lambda tx, registration_pending: check_admission(tx, self.store.state(), registration_pending))
        self.app = ChainApplication(self.store, self.genesis, self.verifier, decoder)
        self.sign_state_file = SignStateFile(home.sign_state_path, self.chain_id, self.key.public_key)
        self.vote_log = VoteLog(home.path / VOTE_LOG_FILE) if self.config.node.vote_log else None
        self.metrics = NodeMetrics(self.genesis.validators)
        self.hub = SubscriptionHub(self.config.rpc.subscriptions_per_connection_max, self.config.rpc.ws_queue_max)
        rpc = self.config.rpc
        self.gate = RpcGate(rpc.connections_max, rpc.connections_per_address_max, rpc.requests_per_s, rpc.requests_burst,
                            on_refusal=self.metrics.reject, address_calls_per_s=rpc.address_calls_per_s,
                            address_calls_burst=rpc.address_calls_burst)
        listen = f"{self.config.p2p.listen_host}:{self.config.p2p.listen_port}"
        network_config = NetworkConfig(self.chain_id, listen, self.config.p2p, frozenset(self.genesis.validators.keys))
        self.network = PeerNetwork(self.key, network_config, self, random.Random())
        sign_state = self.sign_state_file.read() if self.is_validator else None
        if self.is_validator and sign_state is None:
            log.warning("%s has no sign_state file: it signs nothing until a block proposed after this start "
                        "commits (docs/protocol.md section 10, \"Signing state\")", home.sign_state_path)
        self.core = NodeCore(self.genesis, self.key, self.store, self.app, self.mempool, sign_state, self._settings(), self,
                             _ThreadWorker(self.config.node.name))
        self.core.on_committed.append(self._on_committed)
        self.core.on_view_change.append(self._on_view_change)
        self.core.on_step.append(lambda step, elapsed_ms: self.metrics.observe_step(step, elapsed_ms / 1000))
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._stopped = asyncio.Event()
        self._stopping: asyncio.Task[None] | None = None
        self.fatal: str | None = None
        self._last_commit_ms = self.monotonic_ms()
        self._admitted_ms: dict[str, int] = {}    # transactions admitted over RPC, by id, until they commit
        self._read_pools = ReadPools.start(self.config.node.name)

    def _settings(self) -> CoreSettings:
        """Timing as committed (params.update moves it; the core follows later moves)."""
        return CoreSettings(
            **committed_timing(self.app), max_message_bytes=self.config.p2p.frame_bytes_max,
            sync_batch_blocks=self.config.p2p.sync_batch_blocks,
            sync_serve_bytes_per_s=self.config.p2p.sync_serve_bytes_per_s, verifier=self.verifier,
        )

    def _committed_nonce(self, sender: bytes) -> int:
        return get_nonce(self.store.state(), sender)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> ListenAddresses:
        p2p_app = web.Application()
        p2p_app.router.add_get("/p2p", self.network.websocket_handler)
        api = web.Application(client_max_size=self.config.rpc.body_bytes_max + 1024)
        methods = build_method_table(self, self.config.rpc.batch_max, self.config.rpc.page_size_max, self.config.rpc.commit_wait_s,
                                     self.metrics.reject, self._read_pools)
        add_http_api(api, methods, self.hub, self.config.rpc.body_bytes_max, self.gate, self.config.rpc.ws_send_timeout_s,
                     self.config.rpc.cors_allow_origin)
        add_health_route(api, self.health)
        add_metrics_route(api, self.metrics)
        add_explorer_route(api)
        p2p_port = await self._serve(p2p_app, self.config.p2p.listen_host, self.config.p2p.listen_port)
        rpc_port = await self._serve(api, self.config.rpc.listen_host, self.config.rpc.listen_port, self.gate)
        for spec in self.config.p2p.persistent_peers:
            self.network.add_persistent_peer(parse_peer(spec))
        self.core.start()
        self.metrics.height.set(self.store.last_height())
        log.info("%s started at height %d (%s)", self.config.node.name, self.store.last_height(),
                 "validator" if self.is_validator else "observer")
        return ListenAddresses(f"ws://{self.config.p2p.listen_host}:{p2p_port}/p2p",
                               f"http://{self.config.rpc.listen_host}:{rpc_port}/rpc")

    async def _serve(self, app: web.Application, host: str, port: int, gate: RpcGate | None = None) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        await runner.setup()
        self._runners.append(runner)
        if gate is None:
            await web.TCPSite(runner, host, port).start()
            return runner.addresses[0][1]
        server = await listen(runner, gate, host, port)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop once, however many callers ask (a halt, then Ctrl-C)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        self.core.stop()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        await self.network.close()
        for server in self._servers:
            server.close()
        for runner in self._runners:
            await runner.cleanup()
        await asyncio.get_running_loop().run_in_executor(None, self.core.worker.shutdown)
        await asyncio.get_running_loop().run_in_executor(None, self._read_pools.shutdown)    # reads in flight end first
        self.store.close()
        self._stopped.set()

    # -- the core's host (node.core.Host) ---------------------------------------------------

    def now_ms(self) -> int:
        return now_ms()

    def monotonic_ms(self) -> float:
        return time.monotonic() * 1000

    def set_timer(self, name: str, delay_ms: int) -> None:
        if self._stopping is not None:
            return
        previous = self._timers.pop(name, None)
        if previous is not None:
            previous.cancel()

        def fire() -> None:
            self._timers.pop(name, None)
            self.core.on_timer(name)

        self._timers[name] = asyncio.get_running_loop().call_later(delay_ms / 1000, fire)

    def send(self, peer: bytes, kind: str, payload: bytes) -> None:
        self.network.send(peer, kind, payload)

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> None:
        self.network.broadcast(kind, payload, exclude=exclude)

    def write_sign_state(self, state: bytes) -> None:
        written = self.sign_state_file.write(state)
        if self.vote_log is not None:
            self.vote_log.record(written)

    def halt(self, reason: str) -> None:
        """A fault that makes this node's state untrustworthy: stop loudly."""
        log.critical("halting: %s", reason)
        self.fatal = reason
        asyncio.get_running_loop().create_task(self.stop())

    # -- after each commit ------------------------------------------------------------------

    def _on_committed(self, committed: CommittedBlock) -> None:
        now = self.monotonic_ms()
        block = committed.block
        log.info("committed height %d: block %s, %d txs, view %d, %d ms since the last commit",
                 block.height, block.hash().hex()[:16], len(committed.txs), self.core.replica.view, now - self._last_commit_ms)
        self.metrics.block_interval.observe((now - self._last_commit_ms) / 1000)
        self._last_commit_ms = now
        for tx in committed.txs:
            admitted = self._admitted_ms.pop(tx.id, None)
            if admitted is not None:
                self.metrics.commit_latency.observe((now - admitted) / 1000)
        self.metrics.height.set(committed.block.height)
        self.metrics.view.set(self.core.replica.view)
        self.metrics.txs_committed.inc(len(committed.txs))
        self.metrics.txs_failed.inc(sum(1 for result in committed.execution.results if not result.ok))
        self.metrics.mempool_txs.set(len(self.mempool))
        self.metrics.mempool_bytes.set(self.mempool.size_bytes)
        self.metrics.tree_memory_bytes.set(self.store.tree_memory()[1])
        self._publish(committed)
        for tx in committed.txs:
            for waiter in self._waiters.pop(tx.id, ()):
                if not waiter.done():
                    waiter.set_result(True)

    def _publish(self, committed: CommittedBlock) -> None:
        block = committed.block
        self.hub.publish("blocks", {"height": block.height, "hash": block.hash().hex(), "time_ms": block.header.time_ms,
                                    "tx_count": len(block.txs)})
        if not self.hub.has_event_subscribers():
            return
        for event in committed.execution.step_events:
            for topic in topics_of(event, None):
                self.hub.publish(topic, {"height": block.height, "tx_id": None, "event": event})
        for tx, result in zip(committed.txs, committed.execution.results):
            for event in result.events:
                for topic in topics_of(event, tx.sender_address):
                    self.hub.publish(topic, {"height": block.height, "tx_id": tx.id, "event": event})

    # -- the network's handler ------------------------------------------------------------

    def on_peer_connected(self, peer_key: bytes) -> None:
        self._peer_change(peer_key, "connected")
        self.core.on_peer_connected(peer_key)

    def on_peer_disconnected(self, peer_key: bytes) -> None:
        self._peer_change(peer_key, "disconnected")
        self.core.on_peer_disconnected(peer_key)

    def _peer_change(self, peer_key: bytes, change: str) -> None:
        role = "validator" if peer_key in self.genesis.validators else "observer"
        log.info("peer %s %s (%s); %d peers", peer_key.hex()[:16], change, role, len(self.network.peers()))
        self.metrics.peers.set(len(self.network.peers()))
        self.metrics.peer_changes.labels(self.metrics.peer_label(peer_key), change).inc()

    def on_message(self, peer_key: bytes, kind: str, payload: bytes) -> None:
        self.metrics.peer_messages.labels(self.metrics.peer_label(peer_key), kind).inc()
        self.core.on_message(peer_key, kind, payload)

    def _on_view_change(self, height: int, view: int, moved: int) -> None:
        log.info("view change at height %d: now view %d", height, view)
        self.metrics.view_changes.inc(moved)

    # -- what the RPC methods see (node.rpc_methods.NodeView) ----------------------------

    def status(self) -> dict[str, Any]:
        return {"view": self.core.replica.view, "peers": [key.hex() for key in self.network.peers()]}

    def submit(self, raw: bytes) -> SignedTransaction:
        tx = self.core.submit(raw)
        if len(self._admitted_ms) >= self.config.mempool.txs_max:
            del self._admitted_ms[next(iter(self._admitted_ms))]
        self._admitted_ms[tx.id] = self.monotonic_ms()
        self.metrics.mempool_txs.set(len(self.mempool))
        return tx

    def health(self) -> tuple[int, dict[str, Any]]:
        """``/health``: node.health decides from this node's facts."""
        peers = self.network.peers()
        facts = HealthFacts(
            height=self.store.last_height(), certified_height=self.core.syncer.certified_height,
            last_commit_age_ms=int(self.monotonic_ms() - self._last_commit_ms), peers=len(peers),
            validators_connected=sum(1 for key in peers if key in self.genesis.validators),
            halted=self.fatal is not None or self.core.halted is not None,
        )
        rpc = self.config.rpc
        return assess(facts, HealthLimits(self.core.settings.view_timeout_ms, rpc.health_no_commit_views,
                                          rpc.health_behind_blocks))

    async def wait_for_commit(self, tx_id: str, timeout_s: float) -> bool:
        if self.store.tx_location(tx_id) is not None:
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_id, []).append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except asyncio.TimeoutError:
            return self.store.tx_location(tx_id) is not None
        finally:
            waiters = self._waiters.get(tx_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[tx_id]


class _ThreadWorker:
    """The core's worker: one thread, jobs in order, results handed back on the
    event loop that submitted them."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-chain")

    def run(self, job: Callable[[], T], done: Callable[[T], None]) -> None:
        loop = asyncio.get_running_loop()
        future = self._pool.submit(job)
        future.add_done_callback(lambda finished: loop.call_soon_threadsafe(_hand_back, finished, done))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _hand_back(finished, done: Callable) -> None:
    if not finished.cancelled():
        done(finished.result())
