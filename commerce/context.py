"""What a handler knows besides state and body: who, when, and where events go."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Context:
    block_time_ms: int
    tx_id: str
    sender: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, kind: str, **fields: Any) -> None:
        self.events.append({"kind": kind, **fields})
