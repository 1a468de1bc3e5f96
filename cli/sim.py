"""`shopchain sim` (one seeded run) and `shopchain sim sweep` (many seeds, both cores)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from cli.output import reports_user_errors
from node.sim import FAULTS, PARTITIONS, STRATEGIES, SimConfig, run
from node.sim.core import SimOptionError


def _numbers(text: str, kind: type, what: str) -> list:
    try:
        return [kind(value) for value in text.split(",")]
    except ValueError:
        raise SimOptionError("sim.bad_option", f"{what} takes a number or a comma-separated list, not {text!r}") from None


def _latency(text: str) -> tuple[int, int]:
    low, _, high = text.partition("..")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise SimOptionError("sim.bad_option", f"--latency-ms is LOW..HIGH in whole milliseconds, not {text!r}") from None


def _common(command):
    """Options shared by a single run and a sweep (network faults, workload)."""
    options = [
        click.option("--duration", type=float, default=20.0, show_default=True, help="Virtual seconds."),
        click.option("--duplicate", type=float, default=0.0, show_default=True, help="Duplicate rate (fault phase)."),
        click.option("--reorder", type=float, default=0.0, show_default=True, help="Reorder rate (fault phase)."),
        click.option("--crash-rate", type=float, default=0.0, show_default=True, help="Honest crashes per virtual second."),
        click.option("--crash-after-persist", type=float, default=0.0, show_default=True,
                     help="Chance an honest replica crashes between persisting its sign state and sending."),
        click.option("--clock-skew-ms", type=int, default=0, show_default=True),
        click.option("--latency-ms", default="5..50", show_default=True, help="One-way delay range LOW..HIGH."),
        click.option("--tx-rate", type=float, default=50.0, show_default=True, help="Pre-signed commerce transactions per virtual second."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _config(validators, byzantine, strategy, seed, duration, drop, partition, duplicate, reorder, crash_rate,
            crash_after_persist, clock_skew_ms, latency_ms, tx_rate, fault="none") -> SimConfig:
    return SimConfig(validators=validators, byzantine=byzantine, strategy=strategy, seed=seed,
                     duration_ms=int(duration * 1000), drop=drop, partition=partition, fault=fault, duplicate=duplicate,
                     reorder=reorder, crash_rate=crash_rate, crash_after_persist=crash_after_persist,
                     clock_skew_ms=clock_skew_ms, latency_ms=_latency(latency_ms), tx_rate=tx_rate)


@click.group("sim", invoke_without_command=True)
@click.option("--validators", type=int, default=4, show_default=True)
@click.option("--byzantine", type=int, default=0, show_default=True)
@click.option("--strategy", type=click.Choice(STRATEGIES), default="silent", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--drop", type=float, default=0.0, show_default=True, help="Drop rate (fault phase).")
@click.option("--partition", type=click.Choice(PARTITIONS), default="none", show_default=True)
@click.option("--fault", type=click.Choice(FAULTS), default="none", show_default=True,
              help="A disk or sync fault of an honest validator (fault phase).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_common
@click.pass_context
@reports_user_errors
def sim_group(ctx, validators, byzantine, strategy, seed, drop, partition, fault, as_json, **common) -> None:
    """Run the deterministic simulator once: seed in, seed out."""
    if ctx.invoked_subcommand is not None:
        return
    report = run(_config(validators, byzantine, strategy, seed, drop=drop, partition=partition, fault=fault, **common))
    summary = report.to_json()
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        for name in ("seed", "validators", "byzantine", "strategy", "committed_height", "tx_committed",
                     "tx_per_virtual_s", "latency_ms_p50", "latency_ms_p99", "view_changes", "messages_per_block",
                     "safety_violations", "liveness_ok", "liveness_ms", "trace_hash", "wall_s"):
            click.echo(f"{name:<20} {summary[name]}")
        for violation in report.violations[:20]:
            click.echo(f"violation: {violation}")
    if report.violations or not report.liveness_ok:
        what = "safety violation" if report.violations else "liveness failure"
        click.echo(f"{what}; replay with: {summary['replay']}", err=True)
        sys.exit(1)


def _seeds(text: str) -> range:
    low, sep, high = text.partition("..")
    try:
        return range(int(low), int(high) + 1) if sep else range(int(low), int(low) + 1)
    except ValueError:
        raise SimOptionError("sim.bad_option", f"--seeds is A..B (inclusive), e.g. 0..99, not {text!r}") from None


def _choices(text: str, allowed: tuple[str, ...], name: str) -> list[str]:
    values = list(allowed) if text == "all" else [value.strip() for value in text.split(",")]
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise SimOptionError("sim.bad_option", f"unknown {name} {', '.join(unknown)}; choose from {', '.join(allowed)} or all")
    return values


@sim_group.command("sweep")
@click.option("--seeds", required=True, help="Inclusive range A..B.")
@click.option("--validators", default="4", show_default=True, help="A count or a list: 4,7,10.")
@click.option("--byzantine", default="0", show_default=True, help="A count, or f for the most tolerated.")
@click.option("--strategy", default="silent", show_default=True, help="A strategy, a list, or all.")
@click.option("--drop", default="0", show_default=True, help="A rate or a list: 0,0.05,0.1.")
@click.option("--partition", default="none", show_default=True, help="A kind, a list, or all.")
@click.option("--fault", default="none", show_default=True, help="A fault, a list, or all.")
@click.option("--rotate", is_flag=True,
              help="Each seed runs one combination of the lists, in turn, instead of every combination.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True, help="Local processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on the Dask cluster of this scheduler (tcp://HOST:8786) instead of local processes; "
                   "needs shopchain[distributed].")
@_common
@reports_user_errors
def sweep_command(seeds, validators, byzantine, strategy, drop, partition, fault, rotate, out, workers, scheduler,
                  **common) -> None:
    """Run many seeds on every core or a Dask cluster; resumable; writes results.csv, summary.json, plot.svg."""
    from node.sim.sweep import grid, sweep
    base = _config(4, 0, "silent", 0, drop=0.0, partition="none", **common)
    if byzantine != "f" and not byzantine.isdigit():
        raise SimOptionError("sim.bad_option", f"--byzantine is a count or f (the most tolerated), not {byzantine!r}")
    configs = grid(base, _seeds(seeds), _numbers(validators, int, "--validators"), byzantine,
                   _choices(strategy, STRATEGIES, "strategy"), _numbers(drop, float, "--drop"),
                   _choices(partition, PARTITIONS, "partition"), _choices(fault, FAULTS, "fault"), rotate)

    def progress(reports, total):
        where = scheduler or f"{workers} workers"
        with click.progressbar(reports, length=total, label=f"{total} runs on {where}", file=sys.stderr) as bar:
            yield from bar

    summary = sweep(configs, out, workers, progress, scheduler)
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "failing_replays"}, sort_keys=True))
    for command in summary["failing_replays"]:
        click.echo(f"replay: {command}", err=True)
    if summary["safety_violations"] or summary["liveness_failures"]:
        sys.exit(1)
