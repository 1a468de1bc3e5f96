"""Which subscription topics a committed event belongs to (docs/protocol.md section 12)."""
from __future__ import annotations

from typing import Any, Iterator

from chain.keys import is_address

# Event fields that name an order, a trace subject or a coupon (batch/n or a batch).
_ORDER_FIELDS = ("order",)
_TRACE_FIELDS = ("subject",)
_COUPON_FIELDS = ("batch", "coupon")
# Fields that hold ids, which look like account keys (64 hex digits) but are not.
_ID_FIELDS = frozenset(("order", "batch", "coupon", "contract", "subject", "id"))


def topics_of(event: dict[str, Any], sender: str | None) -> Iterator[str]:
    """Every topic an event is published on, each once, in a fixed order."""
    seen: set[str] = set()
    for topic in _candidate_topics(event, sender):
        if topic not in seen:
            seen.add(topic)
            yield topic


def _candidate_topics(event: dict[str, Any], sender: str | None) -> Iterator[str]:
    if sender:
        yield f"events:account:{sender}"
    for name in sorted(event):
        value = event[name]
        if name not in _ID_FIELDS and isinstance(value, str) and is_address(value):
            yield f"events:account:{value}"
    for name in _ORDER_FIELDS:
        if isinstance(event.get(name), str):
            yield f"events:order:{event[name]}"
    for name in _TRACE_FIELDS:
        if isinstance(event.get(name), str):
            yield f"events:trace:{event[name]}"
    for name in _COUPON_FIELDS:
        if isinstance(event.get(name), str):
            yield f"events:coupon:{event[name].split('/')[0]}"
