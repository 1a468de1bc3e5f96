"""Whether a node is doing its job, as ``/health`` answers it.

A node is healthy when it commits: blocks come at least every
``empty_block_interval_ms`` on a live chain, so a node that has committed
nothing for ``no_commit_views`` view timeouts is stuck (or its network is),
one whose height trails the highest height a verified certificate shows by
more than ``behind_blocks`` is behind, and one that halted is done. A height
a peer merely claims is not evidence: peers can lie.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthFacts:
    height: int
    certified_height: int         # highest height a verified certificate shows
    last_commit_age_ms: int       # since the last commit, or since the start
    peers: int
    validators_connected: int
    halted: bool


@dataclass(frozen=True, slots=True)
class HealthLimits:
    view_timeout_ms: int
    no_commit_views: int
    behind_blocks: int


def assess(facts: HealthFacts, limits: HealthLimits) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 or 503) and the JSON body of ``/health``."""
    reasons = []
    if facts.halted:
        reasons.append("halted")
    if facts.last_commit_age_ms > limits.no_commit_views * limits.view_timeout_ms:
        reasons.append("no_commit")
    if facts.certified_height - facts.height > limits.behind_blocks:
        reasons.append("behind")
    body: dict[str, Any] = {
        "status": "unhealthy" if reasons else "ok",
        "height": facts.height,
        "last_commit_age_ms": facts.last_commit_age_ms,
        "peers": facts.peers,
        "validators_connected": facts.validators_connected,
        "catching_up": facts.certified_height > facts.height,
    }
    if reasons:
        body["reasons"] = reasons
    return (503 if reasons else 200), body
