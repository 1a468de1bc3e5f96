"""Running mutated inputs through a surface: counts, rates, contract breaks, hangs."""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from tests.fuzz.surfaces import ACCEPTED, NOTIFICATION, Surface

# An input still running after this long is a hang: the watchdog reports it
# and ends the process, since the stuck call cannot be interrupted from Python.
HANG_S_DEFAULT = 10.0
HANG_EXIT_CODE = 3
PROGRESS_EVERY_S = 30.0


@dataclass
class Stats:
    surface: str
    inputs: int = 0
    seconds: float = 0.0
    accepted: int = 0
    codes: Counter = field(default_factory=Counter)
    slowest_s: float = 0.0

    @property
    def notifications(self) -> int:
        """JSON-RPC notifications: answered with nothing, by design."""
        return self.codes[NOTIFICATION]

    @property
    def rejected(self) -> int:
        return self.inputs - self.accepted - self.notifications

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        extra = f" notifications={self.notifications}" if self.notifications else ""
        return (f"{self.surface:<10} inputs={self.inputs:<9} rate={self.rate:>7.0f}/s typed_rejections={self.rejected:<9} "
                f"accepted={self.accepted:<8}{extra} distinct_outcomes={len(self.codes):<4} "
                f"slowest={self.slowest_s * 1000:.1f}ms elapsed={self.seconds:.1f}s")


class ContractBreak(Exception):
    """An input on which a surface broke its contract."""

    def __init__(self, surface: str, seed: int, index: int, data: bytes, cause: AssertionError) -> None:
        super().__init__(str(cause))
        self.surface, self.seed, self.index, self.data, self.cause = surface, seed, index, data, cause

    def reproduction(self) -> str:
        return reproduction(self.surface, self.seed, self.index, self.data)


def reproduction(surface: str, seed: int, index: int, data: bytes) -> str:
    """One line that reproduces an input: ``python -m tests.fuzz --replay HEX --surface NAME`` runs it again."""
    return f"REPRO surface={surface} seed={seed} index={index} input={data.hex()}"


def _exit_on_hang(line: str) -> None:
    sys.stderr.write(f"hang: an input ran longer than the limit\n{line}\n")
    sys.stderr.flush()
    os._exit(HANG_EXIT_CODE)


class Watchdog:
    """A thread that reports an input running longer than ``hang_s`` and ends the process."""

    def __init__(self, surface: str, seed: int, hang_s: float) -> None:
        self._surface, self._seed, self._hang_s = surface, seed, hang_s
        self._current: tuple[float, int, bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"fuzz watchdog {surface}", daemon=True)

    def __enter__(self) -> "Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def arm(self, index: int, data: bytes) -> None:
        self._current = (time.monotonic(), index, data)

    def disarm(self) -> None:
        self._current = None

    def _watch(self) -> None:
        while not self._stop.wait(min(0.5, self._hang_s / 4)):
            current = self._current
            if current is not None and time.monotonic() - current[0] > self._hang_s:
                _exit_on_hang(reproduction(self._surface, self._seed, current[1], current[2]))


def fuzz(surface: Surface, inputs: int, seed: int = 0, hang_s: float = HANG_S_DEFAULT,
         progress: TextIO | None = None) -> Stats:
    """Run the surface's seeds and regressions, then mutated inputs, ``inputs``
    in all; raise ContractBreak on the first input that breaks the contract."""
    mutator, fixed = surface.mutator(), surface.fixed_inputs
    stats = Stats(surface.name)
    outcome, codes = surface.outcome, stats.codes
    clock = time.perf_counter
    started = last_report = clock()
    with Watchdog(surface.name, seed, hang_s) as watchdog:
        for index in range(inputs):
            data = fixed[index] if index < len(fixed) else mutator.input(seed, index)
            watchdog.arm(index, data)
            before = clock()
            try:
                code = outcome(data)
            except AssertionError as error:
                stats.seconds = clock() - started
                raise ContractBreak(surface.name, seed, index, data, error) from error
            took = clock() - before
            watchdog.disarm()
            codes[code] += 1
            if took > stats.slowest_s:
                stats.slowest_s = took
            stats.inputs += 1
            if progress is not None and before - last_report > PROGRESS_EVERY_S:
                last_report = before
                stats.seconds = before - started
                stats.accepted = codes[ACCEPTED]
                progress.write(f"  {stats.line()}\n")
                progress.flush()
    stats.accepted = codes[ACCEPTED]
    stats.seconds = clock() - started
    return stats


def input_at(surface: Surface, seed: int, index: int) -> bytes:
    """The input ``fuzz`` runs at ``index`` with ``seed``."""
    fixed = surface.fixed_inputs
    return fixed[index] if index < len(fixed) else surface.mutator().input(seed, index)
