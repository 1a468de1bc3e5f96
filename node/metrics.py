"""Prometheus metrics of one node, in a registry of its own (so several
nodes in one process, as in tests, never share counters)."""
from __future__ import annotations

from typing import Container

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from node.core import STEP_PERSIST


# Seconds: from a quick local commit to a stalled network.
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Seconds a worker step takes: from a sign_state append to a full block's execution.
STEP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# The ``peer`` label of every peer that is not a validator: observers need no
# key to connect, so a series each would let anyone grow the registry.
OBSERVER_LABEL = "observer"


class NodeMetrics:
    def __init__(self, validators: Container[bytes] = frozenset()) -> None:
        """``validators``: the peers labelled by their own key prefix."""
        self._validators = validators
        self.registry = CollectorRegistry()
        self.height = Gauge("shopchain_height", "Last committed height", registry=self.registry)
        self.view = Gauge("shopchain_view", "Current consensus view at the current height", registry=self.registry)
        self.view_changes = Counter("shopchain_view_changes", "View changes this node took part in", registry=self.registry)
        self.txs_committed = Counter("shopchain_txs_committed", "Transactions in committed blocks", registry=self.registry)
        self.txs_failed = Counter("shopchain_txs_failed", "Committed transactions whose result is ok=false", registry=self.registry)
        self.peers = Gauge("shopchain_peers", "Connected peers", registry=self.registry)
        self.mempool_txs = Gauge("shopchain_mempool_txs", "Pending transactions", registry=self.registry)
        self.mempool_bytes = Gauge("shopchain_mempool_bytes", "Pending transaction bytes", registry=self.registry)
        self.tree_memory_bytes = Gauge("shopchain_tree_memory_bytes",
                                       "State tree node bytes held in memory above the tree's base on disk",
                                       registry=self.registry)
        self.rejections = Counter("shopchain_rejections", "Requests and messages refused, by code", ["code"], registry=self.registry)
        self.commit_seconds = Gauge("shopchain_last_commit_seconds", "Time the last block's commit took", registry=self.registry)
        self.commit_latency = Histogram(
            "shopchain_commit_latency_seconds", "From a transaction's admission on this node's RPC to its commit here",
            buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.block_interval = Histogram(
            "shopchain_block_interval_seconds", "Between two consecutive commits on this node",
            buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.step_seconds = Histogram(
            "shopchain_step_seconds",
            "A slow step of the node's worker, from its hand-off to its result back on the event loop, by step",
            ["step"], buckets=STEP_BUCKETS_S, registry=self.registry)
        self.peer_messages = Counter("shopchain_peer_messages", "Messages received, by peer (key prefix) and kind",
                                     ["peer", "kind"], registry=self.registry)
        self.peer_changes = Counter("shopchain_peer_changes", "Peers connected and disconnected, by peer (key prefix)",
                                    ["peer", "change"], registry=self.registry)

    def peer_label(self, peer_key: bytes) -> str:
        """A validator's first 16 hex digits; every other peer's ``observer``."""
        return peer_key.hex()[:16] if peer_key in self._validators else OBSERVER_LABEL

    def observe_step(self, step: str, seconds: float) -> None:
        """A worker step that succeeded (node/core.py's ``on_step``); a
        block's write is also the last commit's time."""
        self.step_seconds.labels(step).observe(seconds)
        if step == STEP_PERSIST:
            self.commit_seconds.set(seconds)

    def reject(self, code: str) -> None:
        """Count one request or message refused with ``code``."""
        self.rejections.labels(code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def add_metrics_route(app: web.Application, metrics: NodeMetrics) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", handle)
