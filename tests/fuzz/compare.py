"""``python -m tests.fuzz.compare [--inputs N] [--surface tx]``: the engines, measured in one run.

Runs the same number of inputs through one surface with each engine and
prints, per engine, the inputs per second, the accepted inputs and the
distinct outcomes (typed error codes) reached:

- ``target only``: the surface's check on inputs generated beforehand (the
  cost of the target itself, the ceiling of any engine);
- ``mutator``: this package's engine (tests/fuzz/mutate.py);
- ``hypothesis binary``: Hypothesis drawing ``st.binary()``;
- ``hypothesis mutator``: Hypothesis drawing the index of a mutated input;
- ``atheris``: libFuzzer with coverage feedback, seeded with the same corpus,
  when atheris is installed (it is not a dependency of the project).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Callable

from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from tests.fuzz.runner import fuzz
from tests.fuzz.surfaces import ACCEPTED, SURFACE_NAMES, Surface, build_surface

SEED = 1


def _row(engine: str, inputs: int, seconds: float, codes: Counter) -> dict:
    return {"engine": engine, "inputs": inputs, "seconds": round(seconds, 2), "rate": round(inputs / seconds),
            "accepted": codes[ACCEPTED], "distinct_outcomes": len(codes)}


def _timed(engine: str, inputs: int, run: Callable[[Counter], None]) -> dict:
    codes: Counter = Counter()
    started = time.perf_counter()
    run(codes)
    return _row(engine, inputs, time.perf_counter() - started, codes)


def measure_target_only(surface: Surface, inputs: int) -> dict:
    mutator = surface.mutator()
    batch = [mutator.input(SEED, index) for index in range(inputs)]

    def run(codes: Counter) -> None:
        for data in batch:
            codes[surface.outcome(data)] += 1
    return _timed("target only", inputs, run)


def measure_mutator(surface: Surface, inputs: int) -> dict:
    stats = fuzz(surface, inputs, SEED)
    return _row("mutator", stats.inputs, stats.seconds, stats.codes)


def measure_hypothesis(surface: Surface, inputs: int, engine: str) -> dict:
    mutator = surface.mutator()
    quick = settings(max_examples=inputs, database=None, deadline=None, phases=[Phase.generate], derandomize=True,
                     suppress_health_check=list(HealthCheck))
    calls = Counter()

    def run(codes: Counter) -> None:
        if engine == "hypothesis binary":
            @quick
            @given(st.binary(max_size=surface.max_len))
            def target(data: bytes) -> None:
                calls["n"] += 1
                codes[surface.outcome(data)] += 1
        else:
            @quick
            @given(st.integers(0, 2**40))
            def target(index: int) -> None:
                calls["n"] += 1
                codes[surface.outcome(mutator.input(SEED, index))] += 1
        target()

    row = _timed(engine, inputs, run)
    row["inputs"], row["rate"] = calls["n"], round(calls["n"] / row["seconds"])
    return row


# The child instruments the project's own packages only (instrumenting every
# loaded module, the standard library and Hypothesis included, takes minutes).
_ATHERIS_CHILD = """
import sys, atheris
with atheris.instrument_imports(include=["chain", "commerce", "consensus", "node", "p2p", "storage"]):
    from tests.fuzz.compare import atheris_child
atheris_child(sys.argv[1], int(sys.argv[2]), sys.argv[3])
"""


def measure_atheris(surface_name: str, inputs: int) -> dict | None:
    """libFuzzer in a child process (it owns the process); None without atheris."""
    try:
        import atheris  # noqa: F401 - only probing that it is installed
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as corpus:
        surface = build_surface(surface_name)
        for index, seed in enumerate(surface.seeds):
            with open(os.path.join(corpus, f"seed{index}"), "wb") as file:
                file.write(seed)
        surface.close()
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", _ATHERIS_CHILD, surface_name, str(inputs), corpus],
                               capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"atheris child failed:\n{child.stderr[-2000:]}")
    row = json.loads(lines[-1])
    row["note"] = f"process wall time {wall:.1f} s, instrumentation and start included"
    return row


def atheris_child(surface_name: str, inputs: int, corpus: str) -> None:
    """Run in the child: libFuzzer drives the surface's check with the seeds as its corpus."""
    import atheris

    surface = build_surface(surface_name)
    codes: Counter = Counter()
    started: list[float] = []

    def one_input(data: bytes) -> None:
        if not started:
            started.append(time.perf_counter())
        codes[surface.outcome(data)] += 1
        if sum(codes.values()) == inputs:
            print(json.dumps(_row("atheris", inputs, time.perf_counter() - started[0], codes)), flush=True)

    atheris.Setup([sys.argv[0], f"-runs={inputs}", f"-seed={SEED}", f"-max_len={surface.max_len}", corpus], one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--surface", choices=SURFACE_NAMES, default="tx")
    args = parser.parse_args(argv)
    surface = build_surface(args.surface)
    try:
        rows = [measure_target_only(surface, args.inputs), measure_mutator(surface, args.inputs),
                measure_hypothesis(surface, args.inputs, "hypothesis binary"),
                measure_hypothesis(surface, args.inputs, "hypothesis mutator")]
    finally:
        surface.close()
    atheris_row = measure_atheris(args.surface, args.inputs)
    rows.append(atheris_row or {"engine": "atheris", "inputs": 0, "seconds": 0, "rate": 0, "accepted": 0,
                                "distinct_outcomes": 0, "note": "not installed"})
    print(f"surface {args.surface}, {args.inputs} inputs per engine")
    for row in rows:
        note = f"  ({row['note']})" if "note" in row else ""
        print(f"{row['engine']:<20} inputs={row['inputs']:<7} seconds={row['seconds']:<7} rate={row['rate']:>6}/s "
              f"accepted={row['accepted']:<6} distinct_outcomes={row['distinct_outcomes']}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
