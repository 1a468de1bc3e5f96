"""Exponential backoff with full jitter, for reconnects and bans."""
from __future__ import annotations

import random


class Backoff:
    """Delay before attempt n: uniform in [0, min(cap, base * 2^n)], at least
    ``base / 2`` so a flapping peer is never redialled in a tight loop."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random) -> None:
        self._base_s = base_s
        self._cap_s = cap_s
        self._rng = rng
        self.attempts = 0

    def next_delay_s(self) -> float:
        ceiling = min(self._cap_s, self._base_s * 2**min(self.attempts, 32))
        self.attempts += 1
        return max(self._base_s / 2, self._rng.uniform(0, ceiling))

    def reset(self) -> None:
        self.attempts = 0
