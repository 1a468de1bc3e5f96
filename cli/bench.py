"""`shopchain bench load DIR`: drive a running local testnet with a mix of
pre-signed transactions and report committed throughput and commit latency
against this machine's bound (node/bound.py); with ``--grid``, a saturation
grid of offered rates, as a table, a JSON file and a plot."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from chain.errors import CodedError
from chain.keys import load_key_file
from cli.output import emit, reports_user_errors
from node.bound import Bound, measure_bound
from node.loadgen import MIXES, LoadReport, run_load
from node.testnet import load_testnet

DEFAULT_GRID_RATES = "250,500,1000,1500,2000,3000,4000"


@click.group("bench")
def bench_group() -> None:
    """Measure a running testnet."""


@bench_group.command("load")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--mix", type=click.Choice(MIXES), default="transfer", show_default=True,
              help="transfer: transfers only; commerce: the product's mix (docs/benchmarks.md).")
@click.option("--accounts", default=200, show_default=True, help="Shoppers, funded and set up first.")
@click.option("--txs", default=4000, show_default=True, help="Transactions to pre-sign and submit (per grid point).")
@click.option("--rate", default=400.0, show_default=True, help="Transactions per second offered.")
@click.option("--grid", is_flag=True, help="Run every rate of --rates in turn: a saturation grid.")
@click.option("--rates", default=DEFAULT_GRID_RATES, show_default=True, help="The grid's offered rates, per second.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-grid"), show_default=True,
              help="Where --grid writes grid.json and grid.png.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def bench_load(directory: Path, mix: str, accounts: int, txs: int, rate: float, grid: bool, rates: str, out: Path,
               as_json: bool) -> None:
    """Load the testnet in DIRECTORY (started with 'testnet up') and report."""
    testnet = load_testnet(directory)
    urls = [node.rpc_url for node in testnet.nodes]
    admin = load_key_file(testnet.admin_key_path)
    offered = _rates(rates) if grid else [rate]
    plot = _plotter() if grid else None
    before = measure_bound(mix, len(urls), accounts)      # before and after the load: it must not share the cores with it
    reports = []
    for number, point in enumerate(offered, start=1):
        label = f"{mix} at {point:g} tx/s" + (f" ({number} of {len(offered)})" if grid else "")
        with click.progressbar(length=txs, label=label, file=click.get_text_stream("stderr")) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.pos)
            reports.append(asyncio.run(run_load(urls, admin, accounts, txs, point, mix, progress=progress)))
    after = measure_bound(mix, len(urls), accounts)
    bound = before.averaged_with(after)
    best = max(report.tx_per_s for report in reports)
    summary = {"bound": {**dataclasses.asdict(bound), "tx_per_s": round(bound.tx_per_s, 1),
                         "tx_per_s_before": round(before.tx_per_s, 1), "tx_per_s_after": round(after.tx_per_s, 1)},
               "ratio_to_bound": round(best / bound.tx_per_s, 3)}
    if grid:
        out.mkdir(parents=True, exist_ok=True)
        document = {**summary, "points": [dataclasses.asdict(report) for report in reports]}
        (out / "grid.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        plot(reports, bound, out / "grid.png")
        emit(document, as_json, _table(reports, before, after, best) + f"\nwrote {out / 'grid.json'} and {out / 'grid.png'}")
        return
    [report] = reports
    noun = "transfers" if mix == "transfer" else "transactions"
    human = (f"{report.committed} of {report.submitted} {noun} committed ok ({report.failed} failed, {report.refused} "
             f"refused) in {report.duration_s} s: {report.tx_per_s} tx/s, commit latency p50 {report.latency_ms_p50} ms, "
             f"p99 {report.latency_ms_p99} ms\n" + _bound_line(before, after, best))
    emit({**dataclasses.asdict(report), **summary}, as_json, human)


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        rates = []
    if not rates or min(rates) <= 0:
        raise CodedError("bench.bad_rates", f"--rates takes positive numbers separated by commas, not {text!r}")
    return rates


def _bound_line(before: Bound, after: Bound, best: float) -> str:
    bound = before.averaged_with(after)
    return (f"this machine's bound: {bound.cores} cores / ({bound.validators} validators × ({bound.verify_us} µs to check "
            f"a signature + {bound.exec_us} µs to execute one of the mix)) = {bound.tx_per_s:,.0f} tx/s (the mean of "
            f"{before.tx_per_s:,.0f} measured before the load and {after.tx_per_s:,.0f} after); "
            f"committed {best:,.1f} tx/s = {best / bound.tx_per_s:.2f} of it")


def _table(reports: list[LoadReport], before: Bound, after: Bound, best: float) -> str:
    lines = [f"{'offered':>9} {'sent':>8} {'committed':>10} {'failed':>7} {'refused':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    for report in reports:
        lines.append(f"{report.offered_tx_per_s:>9g} {report.sent_tx_per_s:>8.1f} {report.tx_per_s:>10.1f} "
                     f"{report.failed:>7} {report.refused:>8} {report.latency_ms_p50:>8.1f} {report.latency_ms_p99:>8.1f}")
    return "\n".join(lines + [_bound_line(before, after, best)])


def _plotter() -> Any:
    """The grid's plot; matplotlib is the optional ``bench`` extra, checked
    before any load runs so a missing one costs nothing."""
    try:
        import matplotlib
    except ImportError:
        raise CodedError("bench.no_matplotlib", "--grid draws its plot with matplotlib: "
                                                "pip install 'shopchain[bench]' (make bench installs it)") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    def plot(reports: list[LoadReport], bound: Bound, path: Path) -> None:
        offered = [report.offered_tx_per_s for report in reports]
        figure, (rate_axis, latency_axis) = pyplot.subplots(2, 1, figsize=(7, 7), sharex=True)
        rate_axis.plot(offered, [report.tx_per_s for report in reports], "o-", label="committed (ok)")
        rate_axis.plot(offered, offered, ":", color="grey", label="offered")
        rate_axis.plot(offered, [report.sent_tx_per_s for report in reports], "x--", color="grey", label="sent")
        rate_axis.axhline(bound.tx_per_s, color="red", linestyle="--", label=f"bound {bound.tx_per_s:,.0f}")
        rate_axis.set_ylabel("tx/s")
        rate_axis.legend()
        rate_axis.set_title(f"{bound.validators} validators, {bound.cores} cores, --mix {bound.mix}")
        latency_axis.plot(offered, [report.latency_ms_p50 for report in reports], "o-", label="p50")
        latency_axis.plot(offered, [report.latency_ms_p99 for report in reports], "s-", label="p99")
        latency_axis.set_xlabel("offered tx/s")
        latency_axis.set_ylabel("commit latency, ms")
        latency_axis.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        pyplot.close(figure)

    return plot
