"""A token bucket: the one rate limit of the RPC gate and of block sync serving."""
from __future__ import annotations


class TokenBucket:
    """``rate_per_s`` tokens a second, up to ``burst`` saved."""

    def __init__(self, rate_per_s: float, burst: int, now_s: float) -> None:
        self._rate_per_s = rate_per_s
        self._burst = burst
        self._tokens = float(burst)
        self._at_s = now_s

    def take(self, now_s: float, cost: int = 1) -> bool:
        """Take ``cost`` tokens if they are saved; refuse (take none) if not."""
        self._refill(now_s)
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True

    def in_credit(self, now_s: float) -> bool:
        """Anything saved: for work whose cost is known only once it is done
        (the bytes of an answer), charged after it with ``charge``, so the
        bucket runs at most one piece of work into debt."""
        self._refill(now_s)
        return self._tokens > 0

    def charge(self, cost: int) -> None:
        self._tokens -= cost

    def _refill(self, now_s: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now_s - self._at_s) * self._rate_per_s)
        self._at_s = now_s
