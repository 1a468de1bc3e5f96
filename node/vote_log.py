"""An append-only log of every vote this validator signs, for audits.

Two conflicting votes that never meet leave no evidence on the chain, so a
crash soak (or an operator who suspects their setup) needs the validator's
own account of what it signed. Each time the signing state is made durable,
before the vote it records leaves, a vote that is new is appended as one
JSON line ``{"height", "phase", "view", "block"}``. Off by default
(``node.vote_log``): it grows by a few lines per block.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from consensus.sign_state import SignState

VOTE_LOG_FILE = "votes.log"


class VoteLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._logged: set[tuple[int, str, int, bytes]] = set()

    def record(self, state: SignState) -> None:
        """Append the votes of ``state``'s records not logged by this process yet."""
        lines = []
        for signs in (record for record in (state.latest, state.before) if record is not None):
            for phase, vote in (("prepare", signs.prepare), ("commit", signs.commit)):
                if vote is not None and (signs.height, phase, *vote) not in self._logged:
                    self._logged.add((signs.height, phase, *vote))
                    lines.append(json.dumps({"height": signs.height, "phase": phase, "view": vote[0], "block": vote[1].hex()}))
        if lines:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, ("\n".join(lines) + "\n").encode())
            finally:
                os.close(descriptor)


def read_votes(path: Path) -> Iterator[dict]:
    """The votes logged at ``path`` (none when the file is missing)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return iter(())
    return (json.loads(line) for line in text.splitlines() if line.strip())


def conflicting_votes(votes: Iterator[dict]) -> list[tuple[dict, dict]]:
    """Pairs of votes for different blocks at one (height, phase, view)."""
    first: dict[tuple[int, str, int], dict] = {}
    conflicts = []
    for vote in votes:
        place = (vote["height"], vote["phase"], vote["view"])
        seen = first.setdefault(place, vote)
        if seen["block"] != vote["block"]:
            conflicts.append((seen, vote))
    return conflicts
