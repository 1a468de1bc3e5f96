"""The flood scenario: node0 of a 4-validator cluster (real processes) is
flooded from 127.0.0.2 (tests/cluster/flooder.py) while an honest client on
127.0.0.1 submits mints with ``wait: commit``, after a baseline without the
flood. Shared by the suite (every node keeps committing, every honest
transaction commits) and the flood benchmark (the latency figures)."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from chain.keys import KeyPair
from chain.transaction import build_transaction
from node.client import ShopchainClient
from tests.cluster.clusterutil import admin_key, heights, read_lines, rpc_url, run, running_testnet, wait_for_line, wait_height

ALL = ["node0", "node1", "node2", "node3"]
SAMPLES = 100           # p99 of 100 is the second largest: one outlier is not the figure


@dataclass(frozen=True)
class FloodRun:
    baseline_s: list[float]          # commit latency of each honest transfer before the flood
    flooded_s: list[float]           # ... and under it
    heights_gained: dict[str, int]   # blocks each node committed while the honest client ran under the flood
    flooder_report: dict             # the flooder's last line: what the node served it


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _drain(lines: queue.Queue) -> list[str]:
    taken = []
    while not lines.empty():
        taken.append(lines.get_nowait())
    return taken


async def _transfers(client: ShopchainClient, admin: KeyPair, chain_id: str, first_nonce: int, count: int) -> list[float]:
    """``count`` mints, one after another, each submitted with wait=commit: the latency of each."""
    receiver = KeyPair.generate().address
    latencies = []
    for nonce in range(first_nonce, first_nonce + count):
        tx = build_transaction(admin, chain_id, nonce, "funds.mint", {"to": receiver, "amount": 1})
        started = time.monotonic()
        result = await client.call("tx_submit", tx=tx.raw.hex(), wait="commit")
        latencies.append(time.monotonic() - started)
        assert result["ok"] is True, result
    return latencies


def run_flood(directory: Path) -> FloodRun:
    """One run of the scenario on a fresh testnet under ``directory``; every process it starts is stopped."""
    with running_testnet(directory) as cluster:
        flooder = None
        try:
            async def scenario() -> FloodRun:
                nonlocal flooder
                await wait_height(cluster, ALL, 2)
                admin = admin_key(cluster)
                chain_id = cluster.testnet.chain_id
                async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                    baseline = await _transfers(client, admin, chain_id, 1, SAMPLES)
                    flooder = subprocess.Popen([sys.executable, "-m", "tests.cluster.flooder", rpc_url(cluster, "node0")],
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    lines: queue.Queue = queue.Queue()
                    threading.Thread(target=read_lines, args=(flooder.stdout, lines), daemon=True).start()
                    wait_for_line(lines, "flooding", 30)
                    before = await heights(cluster, ALL)
                    flooded = await _transfers(client, admin, chain_id, 1 + SAMPLES, SAMPLES)
                    after = await heights(cluster, ALL)
                served = [line for line in _drain(lines) if line.startswith("{")]
                return FloodRun(baseline, flooded, {name: after[name] - before[name] for name in ALL},
                                json.loads(served[-1]) if served else {})
            return run(scenario())
        finally:
            if flooder is not None:
                flooder.kill()
                flooder.wait(10)
