"""End to end: a 4-validator local testnet (real processes on 127.0.0.1)
under a steady load of pre-signed transfers from the load generator.

Each run starts a fresh testnet, submits TXS transfers from ACCOUNTS accounts
at RATE per second in JSON-RPC batches spread over the nodes, and counts only
committed transactions; the figures are committed tx/s and commit latency.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from bench.timing import Measurement
from chain.keys import load_key_file
from node.cluster import running_cluster
from node.loadgen import LoadReport, run_load
from node.testnet import init_testnet
from tests.cluster.clusterutil import free_port_base

RUNS = 3
ACCOUNTS = 400
TXS = 8_000
RATE_PER_S = 1_000


def one_run() -> LoadReport:
    with tempfile.TemporaryDirectory() as scratch:
        testnet = init_testnet(Path(scratch) / "net", 4, free_port_base(8), "shopchain-bench")
        with running_cluster(testnet):
            urls = [node.rpc_url for node in testnet.nodes]
            return asyncio.run(run_load(urls, load_key_file(testnet.admin_key_path), ACCOUNTS, TXS, RATE_PER_S))


def run() -> list[Measurement]:
    reports = [one_run() for _ in range(RUNS)]
    for report in reports:
        print(f"  run: {report.to_json()}")
    committed_ratio = min(report.committed / report.submitted for report in reports)
    print(f"  committed/submitted (worst run): {committed_ratio:.3f}; median tx/s {statistics.median(r.tx_per_s for r in reports)}")
    return [
        Measurement(f"4 validators, {RATE_PER_S} tx/s offered: us per committed tx", [1e6 / r.tx_per_s for r in reports]),
        Measurement("commit latency p50 (us)", [r.latency_ms_p50 * 1000 for r in reports]),
        Measurement("commit latency p99 (us)", [r.latency_ms_p99 * 1000 for r in reports]),
    ]
