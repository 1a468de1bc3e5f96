"""Many seeds at once: a grid of SimConfigs run on every core or on a Dask
cluster, resumable.

Each finished run is appended to ``results.csv`` at once (and flushed), so an
interrupted sweep loses at most the runs in flight; run the same command
again and the runs already in the file are skipped. ``summary.json`` and
``plot.svg`` are written from the whole file at the end.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import statistics
from concurrent.futures import CancelledError
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from node.sim.core import FAULT_VICTIMS, SimConfig, SimOptionError, run
from node.sim.plot import write_svg

COLUMNS = ("seed", "validators", "byzantine", "strategy", "drop", "partition", "fault", "duration_s", "committed_height",
           "tx_committed", "tx_per_virtual_s", "latency_ms_p50", "latency_ms_p99", "view_changes",
           "messages_per_block", "safety_violations", "liveness_ok", "liveness_ms", "trace_hash", "wall_s", "replay")
KEY_COLUMNS = ("seed", "validators", "byzantine", "strategy", "drop", "partition", "fault", "duration_s")


def run_key(config: SimConfig) -> tuple[str, ...]:
    return _row_key({"seed": config.seed, "validators": config.validators, "byzantine": config.byzantine,
                     "strategy": config.strategy, "drop": config.drop, "partition": config.partition, "fault": config.fault,
                     "duration_s": config.duration_ms / 1000})


def _row_key(row: dict) -> tuple[str, ...]:
    """A run's identity, from its config or its results.csv row alike (rates as floats)."""
    return tuple(str(float(row[name])) if name in ("drop", "duration_s") else str(row.get(name, "none"))
                 for name in KEY_COLUMNS)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("trace_hash")]


def _run_one(config: SimConfig) -> dict:
    return run(config).to_json()


def reports(configs: list[SimConfig], workers: int, scheduler: str | None = None) -> Iterator[dict]:
    """Each config's report, yielded as soon as its run finishes: from a
    local pool of ``workers`` processes, or from the Dask cluster whose
    scheduler is at ``scheduler``."""
    if scheduler is None:
        with multiprocessing.get_context("spawn").Pool(max(1, workers)) as pool:
            yield from pool.imap_unordered(_run_one, configs, chunksize=1)
        return
    try:
        from distributed import Client, as_completed
        from distributed.comm import get_address_host_port
    except ImportError:
        raise SimOptionError("sim.bad_option", "--scheduler needs Dask: pip install 'shopchain[distributed]'") from None
    try:
        get_address_host_port(scheduler)
    except ValueError as error:
        raise SimOptionError("sim.bad_option", f"--scheduler is an address like tcp://HOST:8786, not {scheduler!r} "
                                               f"({error})") from None
    try:
        client = Client(scheduler, set_as_default=False)
    except OSError as error:
        raise SimOptionError("sim.scheduler_unreachable", f"no Dask scheduler answers at {scheduler} ({error}); "
                                                          "start one or check the address and the firewall") from None
    with client:
        for future in as_completed(client.map(_run_one, configs, pure=False), loop=client.loop):
            try:
                report = future.result()
            except CancelledError:
                raise SimOptionError("sim.scheduler_unreachable", f"lost the Dask scheduler at {scheduler}; the runs "
                                     "that finished are in results.csv: run the same command again to resume") from None
            yield report


def sweep(configs: Iterable[SimConfig], out: Path, workers: int,
          progress: Callable[[Iterator[dict], int], Iterator[dict]] | None = None,
          scheduler: str | None = None) -> dict:
    """Run every config not yet in ``out/results.csv``, on ``workers`` local
    processes or on the Dask cluster at ``scheduler``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    done = {_row_key(row) for row in read_rows(results)}
    todo = [config for config in configs if run_key(config) not in done]
    fresh = not results.exists() or results.stat().st_size == 0
    with results.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        if fresh:
            writer.writeheader()
        if todo:
            arriving = reports(todo, workers, scheduler)
            for report in (progress(arriving, len(todo)) if progress else arriving):
                writer.writerow(report)
                handle.flush()
    rows = read_rows(results)
    summary = summarize(rows, skipped=len(done), ran=len(todo))
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_svg(rows, out / "plot.svg")
    return summary


def summarize(rows: list[dict[str, str]], skipped: int = 0, ran: int = 0) -> dict:
    failing = [row for row in rows if int(row["safety_violations"]) or row["liveness_ok"] != "True"]
    def numbers(name: str) -> list[float]:
        return [float(row[name]) for row in rows if row[name] not in ("", "None")]
    p50, p99, tps = numbers("latency_ms_p50"), numbers("latency_ms_p99"), numbers("tx_per_virtual_s")
    return {
        "runs": len(rows), "ran_now": ran, "skipped_as_done": skipped,
        "safety_violations": sum(int(row["safety_violations"]) for row in rows),
        "runs_with_safety_violations": sum(1 for row in rows if int(row["safety_violations"])),
        "liveness_failures": sum(1 for row in rows if row["liveness_ok"] != "True"),
        "strategies": sorted({row["strategy"] for row in rows}),
        "partitions": sorted({row["partition"] for row in rows}),
        "validators": sorted({int(row["validators"]) for row in rows}),
        "latency_ms_p50_median": statistics.median(p50) if p50 else None,
        "latency_ms_p99_median": statistics.median(p99) if p99 else None,
        "tx_per_virtual_s_median": statistics.median(tps) if tps else None,
        "virtual_s_total": sum(float(row["duration_s"]) for row in rows),
        "wall_s_total": round(sum(float(row["wall_s"]) for row in rows), 1),
        "failing_replays": [row["replay"] for row in failing[:50]],
    }


def grid(base: SimConfig, seeds: range, validators: list[int], byzantine: str, strategies: list[str],
         drops: list[float], partitions: list[str], faults: list[str], rotate: bool = False) -> list[SimConfig]:
    """Every combination of validators × strategies × drops × partitions ×
    faults for every seed; with ``rotate``, each seed runs one combination,
    seed s the (s mod count)-th, so N seeds cover the grid N / count times
    over. ``byzantine`` is a count or ``f``: the most tolerated, less the
    honest validators the fault puts at fault, so no run has more than f
    validators at fault."""
    def count(n: int, fault: str) -> int:
        return max(0, (n - 1) // 3 - FAULT_VICTIMS[fault]) if byzantine == "f" else int(byzantine)

    combinations = [(n, count(n, fault), strategy, drop, partition, fault)
                    for n in validators for strategy in strategies for drop in drops for partition in partitions
                    for fault in faults]
    configs = []
    for seed in seeds:
        chosen = [combinations[seed % len(combinations)]] if rotate else combinations
        for n, byzantine_count, strategy, drop, partition, fault in chosen:
            configs.append(replace(base, validators=n, byzantine=byzantine_count, strategy=strategy, drop=drop,
                                   partition=partition, fault=fault, seed=seed))
    return configs
