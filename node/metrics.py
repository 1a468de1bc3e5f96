"""Prometheus metrics of one node, in a registry of its own (so several
nodes in one process, as in tests, never share counters)."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.height = Gauge("shopchain_height", "Last committed height", registry=self.registry)
        self.view = Gauge("shopchain_view", "Current consensus view at the current height", registry=self.registry)
        self.view_changes = Counter("shopchain_view_changes", "View changes this node took part in", registry=self.registry)
        self.txs_committed = Counter("shopchain_txs_committed", "Transactions in committed blocks", registry=self.registry)
        self.txs_failed = Counter("shopchain_txs_failed", "Committed transactions whose result is ok=false", registry=self.registry)
        self.peers = Gauge("shopchain_peers", "Connected peers", registry=self.registry)
        self.mempool_txs = Gauge("shopchain_mempool_txs", "Pending transactions", registry=self.registry)
        self.mempool_bytes = Gauge("shopchain_mempool_bytes", "Pending transaction bytes", registry=self.registry)
        self.rejections = Counter("shopchain_rejections", "Requests and messages refused, by code", ["code"], registry=self.registry)
        self.commit_seconds = Gauge("shopchain_last_commit_seconds", "Time the last block's commit took", registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def add_metrics_route(app: web.Application, metrics: NodeMetrics) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", handle)
