"""Median-of-runs timing: each run times ``number`` calls, the median run wins."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

RUNS_DEFAULT = 7


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    unit_per_call_us: list[float]
    unit: str = "us"      # what the runs count: µs a call, or another unit (MiB, say)

    @property
    def median_us(self) -> float:
        return statistics.median(self.unit_per_call_us)

    def as_row(self) -> dict[str, object]:
        row: dict[str, object] = {"name": self.name, "median_us": round(self.median_us, 3),
                                  "runs_us": [round(v, 3) for v in self.unit_per_call_us]}
        if self.unit != "us":
            row["unit"] = self.unit
        return row


def measure(name: str, call: Callable[[], object], number: int, runs: int = RUNS_DEFAULT) -> Measurement:
    call()  # warm caches and lazy imports outside the timed runs
    per_call_us = []
    for _ in range(runs):
        start_ns = time.perf_counter_ns()
        for _ in range(number):
            call()
        per_call_us.append((time.perf_counter_ns() - start_ns) / number / 1000)
    return Measurement(name, per_call_us)
