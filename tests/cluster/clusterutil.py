"""Real local testnets for cluster tests: processes on 127.0.0.1, stopped by the test."""
from __future__ import annotations

import asyncio
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from chain.keys import load_key_file
from node.client import ShopchainClient
from node.cluster import Cluster
from node.testnet import init_testnet

# Fast clocks: an empty block every 200 ms, views time out after a second.
FAST_PARAMS = {"empty_block_interval_ms": 200, "block_execution_budget_ms": 300, "view_timeout_ms": 1000}


def free_port_base(count: int) -> int:
    """A base port with ``count`` consecutive free ports above it on loopback."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65000 and all(_is_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError("no run of free ports on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def running_testnet(directory: Path, validators: int = 4, params: dict[str, Any] | None = None) -> Iterator[Cluster]:
    testnet = init_testnet(directory, validators, free_port_base(2 * validators), "shopchain-cluster", params={**FAST_PARAMS, **(params or {})})
    cluster = Cluster(testnet)
    try:
        cluster.start_all()
        for node in testnet.nodes:
            cluster.wait_ready(node.name)
        yield cluster
    finally:
        cluster.stop_all()


def rpc_url(cluster: Cluster, name: str) -> str:
    return next(node.rpc_url for node in cluster.testnet.nodes if node.name == name)


def admin_key(cluster: Cluster):
    return load_key_file(cluster.testnet.admin_key_path)


def run(coroutine):
    return asyncio.run(coroutine)


async def heights(cluster: Cluster, names: list[str]) -> dict[str, int]:
    result = {}
    for name in names:
        async with ShopchainClient(rpc_url(cluster, name)) as client:
            result[name] = (await client.chain_status())["height"]
    return result


async def wait_height(cluster: Cluster, names: list[str], height: int, deadline_s: float = 60.0) -> None:
    """Wait until every named node has committed ``height``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        try:
            reached = await heights(cluster, names)
        except Exception:  # a node still starting refuses connections
            reached = {}
        if reached and all(value >= height for value in reached.values()):
            return
        if loop.time() > end:
            raise AssertionError(f"height {height} not reached within {deadline_s} s: {reached}")
        await asyncio.sleep(0.1)


async def block_hash(cluster: Cluster, name: str, height: int) -> str:
    async with ShopchainClient(rpc_url(cluster, name)) as client:
        return (await client.block_get(height))["hash"]
