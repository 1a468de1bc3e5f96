"""An honest client's commit latency while another address floods the node.

Each run is tests/cluster/flood_scenario.py on a fresh 4-validator testnet
(real processes): 100 mints with ``wait: commit`` to node0, then 100 more
while a flooder on 127.0.0.2 sends over-cap bodies, batches, deep JSON and
idle connections to the same node. Figures: p99 of each phase, medians over
the runs; the target is flooded p99 <= max(2 x baseline p99, 1 s).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.timing import Measurement
from tests.cluster.flood_scenario import p99, run_flood

RUNS = 3


def run() -> list[Measurement]:
    baseline, flooded = [], []
    for index in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="shopchain-flood-") as scratch:
            result = run_flood(Path(scratch) / f"net{index}")
        baseline.append(p99(result.baseline_s) * 1e3)
        flooded.append(p99(result.flooded_s) * 1e3)
    return [Measurement("honest commit p99, baseline", baseline, unit="ms"),
            Measurement("honest commit p99, under flood", flooded, unit="ms")]
