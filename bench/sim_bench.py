"""The simulator's figures: wall time of long runs, committed transactions
per wall second against the executor's own rate, a table of commit latency
and messages per block by the number of validators, and a seed sweep over
every Byzantine strategy and network fault.

Prints each figure with its target and writes bench/results/sim.json and
bench/results/sim_latency.svg.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

from bench.timing import Measurement
from node.sim import FAULTS, PARTITIONS, STRATEGIES, SimConfig
from node.sim import run as run_simulation
from node.sim.plot import write_svg
from node.bound import executor_rate, verify_seconds
from node.sim.sweep import grid, sweep
from node.workload import build_workload, make_world

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TABLE_VALIDATORS = (4, 7, 10, 16, 31)
TABLE_LATENCY_MS = (20, 20)        # fixed one-way network latency for the table
TABLE_DURATION_MS = 10_000
WORKLOAD_SHOPPERS = 256
WORKLOAD_TX_RATE = 4_000           # submitted per virtual second, above what 4 replicas commit
WORKLOAD_DURATION_MS = 4_000
SWEEP_SEEDS = 640                  # two turns of the 320 combinations; docs/simulation.md has a 10,000-seed run


def wall_time(validators: int, heights: int) -> dict:
    config = SimConfig(validators=validators, seed=1, duration_ms=10**8, shoppers=0, tx_rate=0,
                       target_height=heights, liveness_bound_ms=0)
    started = time.perf_counter()
    report = run_simulation(config)
    wall_s = time.perf_counter() - started
    assert report.violations == [] and report.committed_height >= heights, report.to_json()
    return {"validators": validators, "heights": heights, "wall_s": round(wall_s, 2),
            "virtual_s": report.virtual_ms / 1000, "messages": report.messages}


def commerce_throughput() -> dict:
    config = SimConfig(validators=4, seed=1, duration_ms=WORKLOAD_DURATION_MS, shoppers=WORKLOAD_SHOPPERS,
                       tx_rate=WORKLOAD_TX_RATE)
    report = run_simulation(config)
    assert report.violations == [] and report.tx_committed > 0
    sim_rate = report.tx_committed / report.wall_s
    block_size = max(1, report.tx_committed // max(1, report.max_height - report.history_height))
    workload = build_workload(make_world(4, WORKLOAD_SHOPPERS), report.tx_committed, random.Random(1))
    txs = workload.mix(report.tx_committed)
    own_rate = executor_rate(workload, txs, block_size)
    verify_s = verify_seconds(txs)
    bound = 1 / (4 / own_rate + verify_s)      # four executions and one signature check per transaction
    return {"tx_committed": report.tx_committed, "sim_wall_s": round(report.wall_s, 2),
            "sim_tx_per_wall_s": round(sim_rate), "executor_tx_per_s": round(own_rate),
            "exec_us_per_tx": round(1e6 / own_rate, 1), "verify_us_per_tx": round(verify_s * 1e6, 1),
            "bound_tx_per_s": round(bound), "ratio_to_bound": round(sim_rate / bound, 3), "mean_block_txs": block_size}


def latency_table() -> list[dict]:
    rows = []
    for n in TABLE_VALIDATORS:
        report = run_simulation(SimConfig(validators=n, seed=1, duration_ms=TABLE_DURATION_MS, latency_ms=TABLE_LATENCY_MS,
                               tx_rate=50))
        summary = report.to_json()
        rows.append({name: summary[name] for name in (
            "validators", "latency_ms_p50", "latency_ms_p99", "messages_per_block", "tx_per_virtual_s", "wall_s")}
                    | {"blocks": summary["committed_height"] - summary["history_height"]})
    return rows


def seed_sweep(seeds: int = SWEEP_SEEDS) -> dict:
    """Every strategy with f = 1 of 4 under network faults, one combination
    per seed in turn (the 10,000-seed sweep of docs/simulation.md, shortened)."""
    base = SimConfig(duration_ms=20_000, duplicate=0.02, reorder=0.05, crash_rate=0.1, crash_after_persist=0.01,
                     clock_skew_ms=200)
    configs = grid(base, range(seeds), [4], "f", list(STRATEGIES), [0.0, 0.05], list(PARTITIONS), list(FAULTS), rotate=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        summary = sweep(configs, Path(scratch), workers=os.cpu_count() or 1)
    return {name: summary[name] for name in ("runs", "safety_violations", "liveness_failures", "failing_replays")} | {
        "wall_s": round(time.perf_counter() - started, 1)}


def run_suite() -> dict:
    return {"wall_time": [wall_time(100, 100), wall_time(16, 1_000)], "commerce": commerce_throughput(),
            "latency_table": latency_table(), "sweep": seed_sweep()}


def report_lines(figures: dict) -> list[str]:
    lines = [f"{row['validators']} validators x {row['heights']} heights: {row['wall_s']} s wall "
             f"({row['virtual_s']} virtual s, {row['messages']:,} messages; target <= 60 s)"
             for row in figures["wall_time"]]
    commerce = figures["commerce"]
    lines.append(f"4 validators, commerce workload: {commerce['sim_tx_per_wall_s']:,} committed tx per wall s; "
                 f"t_exec {commerce['exec_us_per_tx']} us, t_verify {commerce['verify_us_per_tx']} us, "
                 f"1 / (4 t_exec + t_verify) = {commerce['bound_tx_per_s']:,} tx/s; "
                 f"ratio {commerce['ratio_to_bound']} (target >= 0.8)")
    lines.append(f"latency {TABLE_LATENCY_MS[0]} ms one way: n | blocks | p50 ms | p99 ms | messages/block")
    lines += [f"  {row['validators']:>3} | {row['blocks']:>5} | {row['latency_ms_p50']} | "
              f"{row['latency_ms_p99']} | {row['messages_per_block']}" for row in figures["latency_table"]]
    sweep_figures = figures["sweep"]
    lines.append(f"sweep: {sweep_figures['runs']} seeds x 20 virtual s, {len(STRATEGIES)} strategies, "
                 f"{len(FAULTS) - 1} disk and sync faults, f = 1 of 4, network faults: "
                 f"{sweep_figures['safety_violations']} safety violations, {sweep_figures['liveness_failures']} "
                 f"liveness failures (target 0), {sweep_figures['wall_s']} s wall")
    lines += [f"  replay: {command}" for command in sweep_figures["failing_replays"]]
    return lines


def run() -> list[Measurement]:
    figures = run_suite()
    for line in report_lines(figures):
        print(line)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "sim.json").write_text(json.dumps(figures, indent=1) + "\n")
    write_svg([{key: str(value) for key, value in row.items()} | {"drop": "0"} for row in figures["latency_table"]],
              RESULTS_DIR / "sim_latency.svg", right=("messages_per_block", "messages per block"))
    rows = [Measurement(f"sim {row['validators']} validators x {row['heights']} heights (wall)", [row["wall_s"] * 1e6])
            for row in figures["wall_time"]]
    rows.append(Measurement("sim 4 validators, us per committed tx (wall)",
                            [1e6 / figures["commerce"]["sim_tx_per_wall_s"]]))
    return rows


if __name__ == "__main__":
    run()
