"""One vote's write of the sign_state file (node/sign_state_file.py): wall
time of ``SignStateFile.write`` for states of consecutive heights, in a
temporary folder on this machine's disk. Each run is 300 writes to a new
file; the figure is the median write of each run."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.timing import Measurement
from consensus.sign_state import HeightSigns, SignState
from node.sign_state_file import SignStateFile

WRITES = 300
RUNS = 5
CHAIN = "shopchain-bench"
KEY = bytes(32)


def one_file(directory: Path) -> float:
    """The median write of one new file, in µs."""
    file = SignStateFile(directory / "sign_state", CHAIN, KEY)
    file.create()
    took_us = []
    for height in range(1, WRITES + 1):
        raw = SignState(CHAIN, KEY).with_record(HeightSigns(height)).encode()
        started = time.perf_counter()
        file.write(raw)
        took_us.append((time.perf_counter() - started) * 1e6)
    return statistics.median(took_us)


def run() -> list[Measurement]:
    runs = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as scratch:
            runs.append(one_file(Path(scratch)))
    return [Measurement("sign_state write (one vote), median of 300", runs)]
