"""The running node: the consensus replica and the chain application driven
by asyncio timers, the peer network, the LevelDB store and the HTTP API.

The replica is called only on the event loop's thread. The actions it
returns join one queue that a single task carries out strictly in order
(``_drain``): sends and timers at once; the slow steps (writing the
sign_state file, building, executing and persisting blocks) on one worker
thread, awaited, so the event loop keeps serving peers and clients
meanwhile and nothing later in the queue happens before they finish: a
PersistSignState is on disk before any message after it leaves. The
application and the store are used by that worker alone, the mempool and
the replica by the loop alone. RPC handlers read committed state and hand
transactions to the mempool; they never wait on consensus.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chain.encoding import pack, unpack
from chain.errors import CodedError, DecodeError
from chain.transaction import SignedTransaction
from commerce.executor import get_nonce
from consensus.actions import TIMER_PROPOSE, Action, Broadcast, BuildProposal, Commit, Execute, PersistSignState, RequestSync, Send, SetTimer
from consensus.replica import Config as ReplicaConfig
from consensus.replica import Replica, SignState
from node.application import ChainApplication, CommittedBlock, StateDivergence
from node.events import topics_of
from node.explorer import add_explorer_route
from node.home import NodeHome
from node.http_api import add_http_api
from node.mempool import Mempool
from node.metrics import NodeMetrics, add_metrics_route
from node.rpc_methods import build_method_table
from node.sign_state_file import read_sign_state, write_sign_state
from node.subscriptions import SubscriptionHub
from p2p.errors import PeerError
from p2p.network import NetworkConfig, PeerAddress, PeerNetwork
from p2p.sync import BlockSyncer, CertifiedBlock, decode_sync_request, decode_sync_response, encode_sync_request, encode_sync_response, verify_certified_block
from p2p.wire import KIND_CONSENSUS, KIND_STATUS, KIND_SYNC_REQUEST, KIND_SYNC_RESPONSE, KIND_TX
from storage.blockstore import BlockStore, open_block_store

log = logging.getLogger("shopchain.node")

# Resend our latest consensus messages of a height this often, so a peer that
# reconnects after a drop still hears them (loopback TCP loses nothing, a
# closed connection does).
RESEND_MS = 1000
SYNC_TICK_S = 0.25
SYNC_REQUEST_TIMEOUT_S = 5.0
SYNC_WINDOW_BLOCKS = 64
# With transactions waiting, the primary proposes this soon instead of at the
# empty-block interval: long enough to batch a burst, short next to a commit.
PROPOSE_BATCH_S = 0.05
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
        self.store: BlockStore = open_block_store(home.data_dir)
        self.mempool = Mempool(self.chain_id, self.config.mempool, self._committed_nonce, home.genesis.params["tx_bytes_max"])
        self.app = ChainApplication(self.store, self.genesis, self.mempool)
        self.app.on_commit.append(self._on_committed)
        self.metrics = NodeMetrics()
        self.hub = SubscriptionHub(self.config.rpc.subscriptions_per_connection_max)
        self.syncer = BlockSyncer(self.config.p2p.sync_batch_blocks, SYNC_WINDOW_BLOCKS, SYNC_REQUEST_TIMEOUT_S)
        self.replica = self._new_replica()
        listen = f"{self.config.p2p.listen_host}:{self.config.p2p.listen_port}"
        self.network = PeerNetwork(self.key, NetworkConfig(self.chain_id, listen, self.config.p2p), self, random.Random())
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._actions: deque[Action | _SyncedCommit] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.config.node.name}-chain")
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._sync_wanted = asyncio.Event()
        self._last_position = (self.replica.height, self.replica.view)
        self._early_proposal: asyncio.TimerHandle | None = None
        self.fatal: BaseException | None = None

    # -- construction -------------------------------------------------------------

    def _new_replica(self) -> Replica:
        params = self.genesis.params
        config = ReplicaConfig(
            chain_id=self.chain_id, validators=self.genesis.validators, view_timeout_ms=params["view_timeout_ms"],
            empty_block_interval_ms=params["empty_block_interval_ms"], max_clock_drift_ms=params["max_clock_drift_ms"],
            max_message_bytes=self.config.p2p.frame_bytes_max, resend_ms=RESEND_MS,
        )
        saved = read_sign_state(self.home.sign_state_path)
        sign_state = SignState.decode(saved) if saved else None
        last = self.store.block_by_height(self.store.last_height())
        last_time_ms = last.header.time_ms if last else self.genesis.genesis_time_ms
        key = self.key if self.is_validator else None
        return Replica(config, key, self.store.last_height() + 1, self.store.last_block_hash(), last_time_ms, sign_state)

    def _committed_nonce(self, sender: bytes) -> int:
        return get_nonce(self.store.state(), sender)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> ListenAddresses:
        p2p_app = web.Application()
        p2p_app.router.add_get("/p2p", self.network.websocket_handler)
        api = web.Application(client_max_size=self.config.rpc.body_bytes_max + 1024)
        methods = build_method_table(self, self.config.rpc.batch_max, self.config.rpc.page_size_max, self.config.rpc.commit_wait_s)
        add_http_api(api, methods, self.hub, self.config.rpc.body_bytes_max)
        add_metrics_route(api, self.metrics)
        add_explorer_route(api)
        p2p_port = await self._serve(p2p_app, self.config.p2p.listen_host, self.config.p2p.listen_port)
        rpc_port = await self._serve(api, self.config.rpc.listen_host, self.config.rpc.listen_port)
        for spec in self.config.p2p.persistent_peers:
            self.network.add_persistent_peer(parse_peer(spec))
        self._tasks.append(asyncio.get_running_loop().create_task(self._sync_loop()))
        self._feed(self.replica.start(now_ms()))
        self.metrics.height.set(self.store.last_height())
        log.info("%s started at height %d (%s)", self.config.node.name, self.store.last_height(),
                 "validator" if self.is_validator else "observer")
        return ListenAddresses(f"ws://{self.config.p2p.listen_host}:{p2p_port}/p2p",
                               f"http://{self.config.rpc.listen_host}:{rpc_port}/rpc")

    async def _serve(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runners.append(runner)
        return runner.addresses[0][1]

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
        for handle in list(self._timers.values()) + ([self._early_proposal] if self._early_proposal else []):
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.network.close()
        for runner in self._runners:
            await runner.cleanup()
        self._worker.shutdown(wait=True)
        self.store.close()
        self._stopped.set()

    def _halt(self, error: BaseException) -> None:
        """A fault that makes this node's state untrustworthy: stop loudly."""
        log.critical("halting: %s", error)
        self.fatal = error
        asyncio.get_running_loop().create_task(self.stop())

    # -- the replica's events and actions -----------------------------------------------

    def _feed(self, actions: list[Action]) -> None:
        self._actions.extend(actions)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        self._note_view()
        self._propose_early_if_waiting()

    async def _drain(self) -> None:
        """Carry out queued actions one at a time, in order."""
        try:
            while self._actions and self.fatal is None:
                await self._perform(self._actions.popleft())
                self._note_view()
        except StateDivergence as error:
            self._halt(error)
        self._propose_early_if_waiting()

    async def _in_worker(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)

    def _note_view(self) -> None:
        """Count each view this node moves to within a height (view changes)."""
        position = (self.replica.height, self.replica.view)
        if position[0] == self._last_position[0] and position[1] > self._last_position[1]:
            self.metrics.view_changes.inc(position[1] - self._last_position[1])
        self._last_position = position
        self.metrics.view.set(self.replica.view)

    def _propose_early_if_waiting(self) -> None:
        """As primary at view 0 with transactions waiting, fire the propose
        timer after a short batching delay rather than the empty-block
        interval; the replica checks, as for its own timer, that a proposal
        is still due."""
        replica = self.replica
        if (self._early_proposal is not None or not self.is_validator or replica.view != 0
                or replica.me != replica.primary or len(self.mempool) == 0 or self.fatal is not None):
            return
        height = replica.height

        def fire() -> None:
            self._early_proposal = None
            if self.replica.height == height and self.replica.view == 0:
                self._feed(self.replica.on_timer(TIMER_PROPOSE, height, 0, now_ms()))

        self._early_proposal = asyncio.get_running_loop().call_later(PROPOSE_BATCH_S, fire)

    async def _perform(self, action: "Action | _SyncedCommit") -> None:
        if isinstance(action, PersistSignState):
            await self._in_worker(write_sign_state, self.home.sign_state_path, action.state)
        elif isinstance(action, Broadcast):
            self.network.broadcast(KIND_CONSENSUS, action.payload)
        elif isinstance(action, Send):
            self.network.send(action.to, KIND_CONSENSUS, action.payload)
        elif isinstance(action, SetTimer):
            self._set_timer(action)
        elif isinstance(action, BuildProposal):
            txs = self.app.ready_transactions()
            block = await self._in_worker(self.app.build_block, action.height, action.prev_hash, action.time_ms,
                                          self.key.public_key, action.evidence, txs)
            self._actions.extend(self.replica.on_proposal_built(block, now_ms()))
        elif isinstance(action, Execute):
            ok = await self._in_worker(self.app.validate_block, action.block)
            self._actions.extend(self.replica.on_block_validated(action.block.hash(), ok, now_ms()))
        elif isinstance(action, Commit):
            self.app.finish_commit(await self._in_worker(self.app.persist_block, action.block, action.certificate))
        elif isinstance(action, _SyncedCommit):
            await self._commit_synced(action.item)
        elif isinstance(action, RequestSync):
            # Peers announce their heights after each commit; ask them now.
            self._sync_wanted.set()
        else:
            raise TypeError(f"unknown action {action!r}")

    def _set_timer(self, action: SetTimer) -> None:
        previous = self._timers.pop(action.kind, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(action.kind, None)
            self._feed(self.replica.on_timer(action.kind, action.height, action.view, now_ms()))

        self._timers[action.kind] = loop.call_later(action.delay_ms / 1000, fire)

    def _on_committed(self, committed: CommittedBlock) -> None:
        height = committed.block.height
        self.metrics.height.set(height)
        self.metrics.txs_committed.inc(len(committed.txs))
        self.metrics.txs_failed.inc(sum(1 for result in committed.execution.results if not result.ok))
        self.metrics.mempool_txs.set(len(self.mempool))
        self.metrics.mempool_bytes.set(self.mempool.size_bytes)
        self._publish(committed)
        for tx in committed.txs:
            for waiter in self._waiters.pop(tx.id, ()):
                if not waiter.done():
                    waiter.set_result(True)
        self.network.broadcast(KIND_STATUS, pack({"height": height}))

    def _publish(self, committed: CommittedBlock) -> None:
        block = committed.block
        self.hub.publish("blocks", {"height": block.height, "hash": block.hash().hex(), "time_ms": block.header.time_ms,
                                    "tx_count": len(block.txs)})
        for event in committed.execution.step_events:
            for topic in topics_of(event, None):
                self.hub.publish(topic, {"height": block.height, "tx_id": None, "event": event})
        for tx, result in zip(committed.txs, committed.execution.results):
            for event in result.events:
                for topic in topics_of(event, tx.sender_address):
                    self.hub.publish(topic, {"height": block.height, "tx_id": tx.id, "event": event})

    # -- the network's handler ------------------------------------------------------------

    def on_peer_connected(self, peer_key: bytes) -> None:
        self.metrics.peers.set(len(self.network.peers()))
        self.network.send(peer_key, KIND_STATUS, pack({"height": self.store.last_height()}))

    def on_peer_disconnected(self, peer_key: bytes) -> None:
        self.metrics.peers.set(len(self.network.peers()))
        self.syncer.on_peer_gone(peer_key)

    def on_message(self, peer_key: bytes, kind: str, payload: bytes) -> None:
        if kind == KIND_CONSENSUS:
            self._feed(self.replica.on_message(payload, now_ms()))
        elif kind == KIND_TX:
            self._on_gossiped_tx(peer_key, payload)
        elif kind == KIND_STATUS:
            self.syncer.on_peer_height(peer_key, _decode_status(payload))
        elif kind == KIND_SYNC_REQUEST:
            self._serve_sync(peer_key, payload)
        elif kind == KIND_SYNC_RESPONSE:
            self._take_sync_response(peer_key, payload)

    def _on_gossiped_tx(self, peer_key: bytes, raw: bytes) -> None:
        try:
            self.mempool.add_raw(raw)
        except CodedError as error:
            if error.code in ("tx.bad_signature", "tx.malformed", "tx.wrong_chain", "tx.bad_version"):
                raise PeerError("p2p.invalid_tx", f"the peer relayed an invalid transaction ({error.code})") from None
            return
        self.network.broadcast(KIND_TX, raw, exclude=peer_key)
        self._propose_early_if_waiting()

    # -- block sync -------------------------------------------------------------------

    def _serve_sync(self, peer_key: bytes, payload: bytes) -> None:
        from_height, count = decode_sync_request(payload, self.config.p2p.sync_batch_blocks)
        last = min(self.store.last_height(), from_height + count - 1)
        blocks = [CertifiedBlock(self.store.block_by_height(h), self.store.certificate(h)) for h in range(from_height, last + 1)]
        self.network.send(peer_key, KIND_SYNC_RESPONSE, encode_sync_response(blocks))

    def _take_sync_response(self, peer_key: bytes, payload: bytes) -> None:
        try:
            pairs = decode_sync_response(payload, self.config.p2p.frame_bytes_max, self.config.p2p.sync_batch_blocks)
            blocks = [verify_certified_block(b, c, self.genesis.validators, self.chain_id, self.genesis.params["block_bytes_max"])
                      for b, c in pairs]
        except PeerError:
            self.syncer.on_peer_failed(peer_key)
            raise
        self.syncer.on_response(peer_key, blocks)
        self._apply_synced()

    def _apply_synced(self) -> None:
        """Queue synced blocks behind the replica's own actions, in height order."""
        queued = {action.item.height for action in self._actions if isinstance(action, _SyncedCommit)}
        next_height = max(queued, default=self.store.last_height()) + 1
        ready = self.syncer.take_ready(next_height - 1)
        if ready:
            self._actions.extend(_SyncedCommit(item) for item in ready)
            self._feed([])

    async def _commit_synced(self, item: CertifiedBlock) -> None:
        if item.height <= self.store.last_height():
            return  # committed meanwhile by consensus
        if item.block.header.prev_hash != self.store.last_block_hash():
            raise StateDivergence(f"certified block {item.height} does not extend our chain")
        self.app.finish_commit(await self._in_worker(self.app.persist_block, item.block, item.certificate))
        self._actions.extend(self.replica.on_synced_block(item.block, item.certificate, now_ms()))

    async def _sync_loop(self) -> None:
        """Ask peers for the blocks we lack, every tick or at once on RequestSync."""
        loop = asyncio.get_running_loop()
        while True:
            for peer, from_height, count in self.syncer.next_requests(self.store.last_height(), loop.time()):
                self.network.send(peer, KIND_SYNC_REQUEST, encode_sync_request(from_height, count))
            try:
                await asyncio.wait_for(self._sync_wanted.wait(), SYNC_TICK_S)
            except asyncio.TimeoutError:
                pass
            self._sync_wanted.clear()

    # -- what the RPC methods see (node.rpc_methods.NodeView) ----------------------------

    def status(self) -> dict[str, Any]:
        return {"view": self.replica.view, "peers": [key.hex() for key in self.network.peers()]}

    def submit(self, raw: bytes) -> SignedTransaction:
        tx = self.mempool.add_raw(raw)
        self.metrics.mempool_txs.set(len(self.mempool))
        self.network.broadcast(KIND_TX, raw)
        self._propose_early_if_waiting()
        return tx

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


@dataclass(frozen=True, slots=True)
class _SyncedCommit:
    """A verified block from block sync, queued with the replica's actions."""

    item: CertifiedBlock


def _decode_status(payload: bytes) -> int:
    try:
        value = unpack(payload, 64)
    except DecodeError:
        raise PeerError("p2p.bad_message", "a status message is not canonical") from None
    if not isinstance(value, dict) or set(value) != {"height"} or type(value["height"]) is not int or value["height"] < 0:
        raise PeerError("p2p.bad_message", "a status message is {height}")
    return value["height"]
