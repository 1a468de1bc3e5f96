"""`make bench`: run every benchmark suite, print medians, save JSON.

Usage: python -m bench.run [suite ...]   (suites: chain, storage, state-tree, proofs, commerce, commerce-1m, e2e, sim, spam, flood,
worker, growth, sign-state; default all)
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from bench import (chain_bench, commerce_bench, e2e_bench, flood_bench, growth_bench, million_bench, proof_bench, sim_bench,
                   spam_bench, sign_state_bench, state_tree_bench, storage_bench, worker_bench)

SUITES = {"chain": chain_bench.run, "storage": storage_bench.run, "state-tree": state_tree_bench.run, "proofs": proof_bench.run,
          "commerce": commerce_bench.run, "commerce-1m": million_bench.run, "e2e": e2e_bench.run, "sim": sim_bench.run,
          "spam": spam_bench.run, "flood": flood_bench.run, "worker": worker_bench.run, "growth": growth_bench.run,
          "sign-state": sign_state_bench.run}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    report: dict[str, list[dict[str, object]]] = {}
    for name in chosen:
        print(f"## {name}")
        rows = SUITES[name]()
        for row in rows:
            print(f"{row.name:<45} median {row.median_us:>12.3f} {row.unit}  (runs: {', '.join(f'{v:.3f}' for v in row.unit_per_call_us)})")
        report[name] = [row.as_row() for row in rows]
        _print_derived(name, {row.name: row.median_us for row in rows})
    RESULTS_DIR.mkdir(exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine()}
    (RESULTS_DIR / "latest.json").write_text(json.dumps({"machine": machine, "suites": report}, indent=1))
    return 0


def _print_derived(suite: str, medians: dict[str, float]) -> None:
    if suite == "chain":
        ratio = medians["tx decode + verify"] / medians["PyNaCl bare verify"]
        print(f"{'decode + verify / bare verify':<45} {ratio:.3f} (target <= 1.3)")
    if suite == "commerce":
        small, large, uncached, root = medians.values()
        print(f"{'tx/s at 1,000 accounts':<45} {1e6 / small:,.0f} (target >= 15,000)")
        print(f"{'tx/s at 100,000 accounts':<45} {1e6 / large:,.0f} (target >= 12,000, the state root included)")
        print(f"{'slowdown from 1,000 to 100,000 accounts':<45} {100 * (large / small - 1):.1f} % (target <= 15 %)")
        print(f"{'tx/s at 100,000 accounts, read cache off':<45} {1e6 / uncached:,.0f}")
        print(f"{'state root share at 100,000 accounts':<45} {100 * root / large:.1f} % (medians of each)")
    if suite == "commerce-1m":
        per_tx_us, rss_mib, anonymous_mib, files_mib, peak_mib = medians.values()
        print(f"{'tx/s at 1,000,000 accounts':<45} {1e6 / per_tx_us:,.0f} (target >= 8,000)")
        print(f"{'node RSS (anonymous + mapped files), peak':<45} {rss_mib:,.0f} MiB ({anonymous_mib:,.0f} + "
              f"{files_mib:,.0f}), peak {peak_mib:,.0f} MiB (target <= 1,024 MiB)")
    if suite == "flood":
        baseline_ms, flooded_ms = medians.values()
        bound_ms = max(2 * baseline_ms, 1000.0)
        print(f"{'flooded p99 / bound max(2 x baseline, 1 s)':<45} {flooded_ms / bound_ms:.2f} (target <= 1)")
    if suite == "worker":
        validate_us, persist_us = medians["worker CPU a tx: validate"], medians["worker CPU a tx: persist"]
        verify_us, exec_us = medians["bound: t_verify"], medians["bound: t_exec"]
        allowed_us = 2 * (verify_us + exec_us)
        print(f"{'validator: validate + persist + one check':<45} {validate_us + persist_us + verify_us:.1f} us a tx, "
              f"against {allowed_us:.1f} us that 0.5 of the bound allows a validator for everything")
    if suite == "growth":
        for first, last in zip(growth_bench.SHOWN[::2], growth_bench.SHOWN[1::2]):
            ratio = medians[growth_bench.worker_name(last)] / medians[growth_bench.worker_name(first)]
            print(f"{f'worker CPU a tx, run {last} / run {first}':<45} {ratio:.3f} (medians of each)")
    if suite == "storage":
        commit_ms = next(iter(medians.values())) / 1000
        print(f"{'block commit':<45} {commit_ms:.2f} ms (target <= 20 ms)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
