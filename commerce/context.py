"""What a handler knows besides state and body: who, when, and where events go."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Timed steps run with no transaction; their events name this id.
TIMED_STEP_TX_ID = "0" * 64


@dataclass(frozen=True, slots=True)
class Context:
    block_time_ms: int
    tx_id: str
    sender: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def timed(self) -> bool:
        """A timer's step, taken by no transaction."""
        return self.tx_id == TIMED_STEP_TX_ID

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, **fields})
