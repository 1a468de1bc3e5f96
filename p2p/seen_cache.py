"""A bounded set of recently seen message ids, so each gossip is handled once."""
from __future__ import annotations

import hashlib
from collections import OrderedDict


def message_id(kind: str, payload: bytes) -> bytes:
    """The id a gossiped message is remembered by."""
    return hashlib.sha256(kind.encode() + b"\x00" + payload).digest()


class SeenCache:
    """Remembers the newest ``capacity`` ids; the oldest are forgotten first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a seen cache holds at least one id")
        self._capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def add(self, message_id: bytes) -> bool:
        """Record ``message_id``; True if it was new."""
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)
