"""Real local testnets for cluster tests: processes on 127.0.0.1, stopped by the test."""
from __future__ import annotations

import asyncio
import queue
import random
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from chain.keys import load_key_file
from node.client import ShopchainClient
from node.cluster import Cluster
from node.testnet import init_testnet

# Ports for test clusters start here (below the ephemeral range; see free_port_base).
TEST_PORT_FLOOR = 20000

# Fast clocks: an empty block every 200 ms, views time out after a second.
FAST_PARAMS = {"empty_block_interval_ms": 200, "block_execution_budget_ms": 300, "view_timeout_ms": 1000}


def free_port_base(count: int) -> int:
    """A base port with ``count`` consecutive free ports above it on loopback.

    The run is taken below the kernel's ephemeral range: ports there are handed
    to outgoing connections (the nodes dial each other while the later ones
    start), so a probed-free port in that range can be taken before its node
    binds it.
    """
    ephemeral_low = _ephemeral_low()
    for _ in range(200):
        base = random.randrange(TEST_PORT_FLOOR, ephemeral_low - count)
        if all(_is_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError("no run of free ports on 127.0.0.1")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


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


def _processes() -> Iterator[tuple[int, Path]]:
    """(pid, /proc entry) of every process on the machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name), entry


def _read(path: Path, binary: bool = False) -> Any:
    try:
        return path.read_bytes() if binary else path.read_text()
    except OSError:      # the process ended meanwhile
        return None


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (a testnet's folder, say)."""
    return [pid for pid, entry in _processes() if text.encode() in (_read(entry / "cmdline", binary=True) or b"")]


def _stat_fields(entry: Path) -> list[str] | None:
    stat = _read(entry / "stat")
    return None if stat is None else stat.rsplit(")", 1)[1].split()


def children_of(parent: int) -> list[int]:
    return [pid for pid, entry in _processes() if (fields := _stat_fields(entry)) and int(fields[1]) == parent]


def alive(pid: int) -> bool:
    fields = _stat_fields(Path("/proc") / str(pid))
    return fields is not None and fields[0] != "Z"


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def wait_for_line(lines: queue.Queue, wanted: str, deadline_s: float) -> list[str]:
    seen, end = [], time.monotonic() + deadline_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"{wanted!r} not printed within {deadline_s} s; saw {seen}") from None
        seen.append(line)
        if wanted in line:
            return seen
