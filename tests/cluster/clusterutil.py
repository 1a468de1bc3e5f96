"""The one harness of every cluster test, crash test and soak: real local
testnets of processes on 127.0.0.1, stopped by the test, and the checks a
crash must pass.

Every testnet it makes logs each vote its validators sign
(``node.vote_log``), and ``running_testnet`` audits every home when the test
leaves it: every store opens and no validator signed two different blocks at
one (height, phase, view). ``converged`` checks the running chains: one
height and identical blocks (so identical results: the header commits to
them) everywhere.
"""
from __future__ import annotations

import asyncio
import dataclasses
import queue
import random
import shutil
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import aiohttp

from chain.keys import load_key_file
from chain.light import Trust
from commerce.keys import meta_key
from node.client import ShopchainClient
from node.cluster import Cluster, running_cluster
from node.config import load_config, render_config
from node.home import open_home
from node.testnet import Testnet, init_testnet
from node.vote_log import VOTE_LOG_FILE, conflicting_votes, read_votes
from storage.blockstore import open_block_store
from tests.waiting import eventually_value

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


def make_testnet(directory: Path, validators: int = 4, params: dict[str, Any] | None = None,
                 chain_id: str = "shopchain-cluster") -> Testnet:
    """A testnet on free loopback ports with fast clocks, every validator logging its votes."""
    testnet = init_testnet(directory, validators, free_port_base(2 * validators), chain_id,
                           params={**FAST_PARAMS, **(params or {})})
    for node in testnet.nodes:
        config = load_config(node.home)
        config = dataclasses.replace(config, node=dataclasses.replace(config.node, vote_log=True))
        (node.home / "config.toml").write_text(render_config(config))
    return testnet


@contextmanager
def running_testnet(directory: Path, validators: int = 4, params: dict[str, Any] | None = None,
                    start: list[str] | None = None, chain_id: str = "shopchain-cluster",
                    audited: bool = True) -> Iterator[Cluster]:
    """A testnet with the named nodes (all by default) started and ready;
    every process stopped on the way out and, when the test passed, every
    home audited (see ``audit``; ``audited=False`` leaves that to the caller)."""
    testnet = make_testnet(directory, validators, params, chain_id)
    with running_cluster(testnet, start) as cluster:
        yield cluster
    if audited:
        findings = audit(testnet)
        assert findings.ok, findings


def home_of(cluster: Cluster, name: str) -> Path:
    return next(node.home for node in cluster.testnet.nodes if node.name == name)


def lose_data(cluster: Cluster, name: str) -> None:
    """Delete the stopped node ``name``'s ``data/``, as a lost disk would (its ``sign_state`` stays)."""
    assert name not in cluster.nodes or not cluster.nodes[name].alive(), f"{name} is running: stop it before its data goes"
    shutil.rmtree(home_of(cluster, name) / "data")


@dataclass
class Audit:
    """What a stopped testnet's homes show."""

    stores_opened: int = 0
    stores: int = 0
    double_signs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.stores_opened == self.stores and not self.double_signs


def audit(testnet: Testnet) -> Audit:
    """Open every node's store and read every vote log, with every process stopped."""
    findings = Audit(stores=len(testnet.nodes))
    for node in testnet.nodes:
        if (node.home / "data").exists():
            store = open_block_store(node.home / "data")
            try:
                store.last_height()
                findings.stores_opened += 1
            finally:
                store.close()
        else:
            findings.stores -= 1     # never started, or wiped and not started again
        for first, second in conflicting_votes(read_votes(node.home / VOTE_LOG_FILE)):
            findings.double_signs.append(f"{node.name}: {first} / {second}")
    return findings


@dataclass
class Convergence:
    height: int
    diverging_heights: list[int]


async def converged(cluster: Cluster, names: list[str] | None = None, deadline_s: float = 120.0) -> Convergence:
    """Wait until the named nodes (all by default) stand at one height, then
    compare their blocks at every height up to it, and check a state proof
    from each against the certified header of that height (verify.failed
    raises)."""
    names = names or [node.name for node in cluster.testnet.nodes]
    reached = await eventually_value(lambda: heights(cluster, names), lambda seen: len(set(seen.values())) == 1,
                                     deadline_s, what=f"{names} at one height")
    top = min(reached.values())
    clients = [ShopchainClient(rpc_url(cluster, name), timeout_s=10) for name in names]
    for client in clients:
        await client.__aenter__()
    try:
        diverging = [height for height in range(1, top + 1)
                     if len({(await client.block_get(height))["hash"] for client in clients}) != 1]
        # Each node's state tree agrees with the certified header: a proof from it verifies.
        trust = Trust.from_genesis(open_home(cluster.testnet.nodes[0].home).genesis)
        for client in clients:
            await client.verify_state(trust, [meta_key("time_ms")], top)
    finally:
        for client in clients:
            await client.__aexit__(None, None, None)
    return Convergence(top, diverging)


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


async def health(cluster: Cluster, name: str) -> tuple[int, dict]:
    """The HTTP status and body of the node's ``/health``."""
    base = rpc_url(cluster, name)[: -len("/rpc")]
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/health") as response:
            return response.status, await response.json()


async def wait_health(cluster: Cluster, name: str, status: int, deadline_s: float = 60.0) -> dict:
    """The body of the node's ``/health`` once it answers ``status``."""
    answer = await eventually_value(lambda: health(cluster, name), lambda answer: answer[0] == status, deadline_s,
                                    what=f"{name} /health {status}")
    return answer[1]


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
