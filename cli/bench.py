"""`shopchain bench load DIR`: drive a running local testnet and report
committed throughput and commit latency."""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import click

from chain.keys import load_key_file
from cli.output import emit, reports_user_errors
from node.loadgen import run_load
from node.testnet import load_testnet


@click.group("bench")
def bench_group() -> None:
    """Measure a running testnet."""


@bench_group.command("load")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--accounts", default=200, show_default=True, help="Sending accounts, registered and funded first.")
@click.option("--txs", default=4000, show_default=True, help="Transfers to pre-sign and submit.")
@click.option("--rate", default=400.0, show_default=True, help="Transactions per second submitted.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def bench_load(directory: Path, accounts: int, txs: int, rate: float, as_json: bool) -> None:
    """Load the testnet in DIRECTORY (started with 'testnet up') and report."""
    testnet = load_testnet(directory)
    report = asyncio.run(run_load([node.rpc_url for node in testnet.nodes], load_key_file(testnet.admin_key_path),
                                  accounts, txs, rate))
    human = (f"{report.committed} of {report.submitted} transfers committed in {report.duration_s} s: "
             f"{report.tx_per_s} tx/s, commit latency p50 {report.latency_ms_p50} ms, p99 {report.latency_ms_p99} ms")
    emit(dataclasses.asdict(report), as_json, human)
