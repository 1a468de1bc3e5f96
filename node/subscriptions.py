"""Websocket subscriptions: topics, bounded per-subscriber queues, caps.

Topics (docs/protocol.md section 12): ``blocks``, ``events:account:ADDR``,
``events:order:ID``, ``events:trace:SUBJECT``, ``events:coupon:BATCH``.
Publishing never waits: a subscriber whose queue is full is cut off with a
``subscription.lagging`` notice rather than slowing the commit path.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from node.errors import RequestRejected

TOPIC_PATTERN = re.compile(r"blocks|events:(account|order|trace|coupon):[A-Za-z0-9._/-]{1,200}")


@dataclass(eq=False, slots=True)
class Subscriber:
    queue: asyncio.Queue[dict[str, Any] | None]
    topics: set[str] = field(default_factory=set)
    lagging: bool = False


class SubscriptionHub:
    def __init__(self, per_connection_max: int, queue_max: int = 1024) -> None:
        self._per_connection_max = per_connection_max
        self._queue_max = queue_max
        self._by_topic: dict[str, set[Subscriber]] = {}

    def open(self) -> Subscriber:
        return Subscriber(asyncio.Queue(self._queue_max))

    @staticmethod
    def check_topic(topic: object) -> None:
        if not isinstance(topic, str) or not TOPIC_PATTERN.fullmatch(topic):
            raise RequestRejected(
                "subscription.bad_topic",
                "topic must be blocks or events:account|order|trace|coupon:ID",
            )

    def subscribe(self, subscriber: Subscriber, topic: str) -> None:
        self.check_topic(topic)
        if topic not in subscriber.topics and len(subscriber.topics) >= self._per_connection_max:
            raise RequestRejected(
                "subscription.too_many",
                f"at most {self._per_connection_max} subscriptions per connection; unsubscribe or open another",
            )
        subscriber.topics.add(topic)
        self._by_topic.setdefault(topic, set()).add(subscriber)

    def unsubscribe(self, subscriber: Subscriber, topic: str) -> bool:
        if topic not in subscriber.topics:
            return False
        subscriber.topics.discard(topic)
        self._discard(topic, subscriber)
        return True

    def close(self, subscriber: Subscriber) -> None:
        for topic in list(subscriber.topics):
            self._discard(topic, subscriber)
        subscriber.topics.clear()

    def has_subscribers(self, topic: str) -> bool:
        return topic in self._by_topic

    def has_event_subscribers(self) -> bool:
        """Whether anyone follows an ``events:`` topic (``blocks`` is the only
        other kind), so a commit can skip working out its events' topics."""
        return len(self._by_topic) > ("blocks" in self._by_topic)

    def publish(self, topic: str, params: dict[str, Any]) -> None:
        for subscriber in list(self._by_topic.get(topic, ())):
            try:
                subscriber.queue.put_nowait({"topic": topic, **params})
            except asyncio.QueueFull:
                self._cut_off(subscriber)

    def _cut_off(self, subscriber: Subscriber) -> None:
        self.close(subscriber)
        subscriber.lagging = True
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)

    def _discard(self, topic: str, subscriber: Subscriber) -> None:
        members = self._by_topic.get(topic)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del self._by_topic[topic]
