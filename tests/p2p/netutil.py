"""Real PeerNetworks on 127.0.0.1 for tests, and waiting on conditions."""
from __future__ import annotations

import asyncio
import hashlib
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable

from aiohttp import web

from chain.keys import KeyPair
from p2p.errors import PeerError
from p2p.network import NetworkConfig, PeerLimits, PeerNetwork

CHAIN = "shopchain-p2p-test"
DEADLINE_S = 10.0


def key(name: str) -> KeyPair:
    return KeyPair(hashlib.sha256(name.encode()).digest())


@dataclass
class RecordingHandler:
    """Records what the network reports; ``relay`` re-broadcasts gossip, and
    ``reject`` makes a payload count as invalid data from its sender."""

    relay: bool = False
    reject: bytes | None = None
    connected: list[bytes] = field(default_factory=list)
    disconnected: list[bytes] = field(default_factory=list)
    messages: list[tuple[bytes, str, bytes]] = field(default_factory=list)
    network: PeerNetwork | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_peer_connected(self, peer_key: bytes) -> None:
        self.connected.append(peer_key)
        self.changed.set()

    def on_message(self, peer_key: bytes, kind: str, payload: bytes) -> None:
        if payload == self.reject:
            raise PeerError("test.invalid", "the handler refused this payload")
        self.messages.append((peer_key, kind, payload))
        if self.relay and self.network is not None:
            self.network.broadcast(kind, payload, exclude=peer_key)
        self.changed.set()

    def on_peer_disconnected(self, peer_key: bytes) -> None:
        self.disconnected.append(peer_key)
        self.changed.set()


async def wait_until(handler_or_event, condition: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    """Wait until ``condition()`` holds, re-checking each time the handler
    records something; fail after the deadline."""
    event = handler_or_event.changed if hasattr(handler_or_event, "changed") else handler_or_event
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        remaining = end - loop.time()
        if remaining <= 0:
            raise AssertionError("condition not reached before the deadline")
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), min(remaining, 0.2))
        except asyncio.TimeoutError:
            pass


@dataclass
class RunningNode:
    identity: KeyPair
    network: PeerNetwork
    handler: RecordingHandler
    url: str
    runner: web.AppRunner


@asynccontextmanager
async def running_node(name: str, chain_id: str = CHAIN, port: int = 0, **config) -> AsyncIterator[RunningNode]:
    node = await start_node(name, chain_id, port, **config)
    try:
        yield node
    finally:
        await stop_node(node)


async def start_node(name: str, chain_id: str = CHAIN, port: int = 0, relay: bool = False,
                     validators: frozenset[bytes] = frozenset(), **config) -> RunningNode:
    identity = key(name)
    handler = RecordingHandler(relay=relay)
    app = web.Application()
    runner = web.AppRunner(app)
    network_config = NetworkConfig(chain_id, f"127.0.0.1:{port}", PeerLimits(**config), validators)
    network = PeerNetwork(identity, network_config, handler, random.Random(name))
    handler.network = network
    app.router.add_get("/p2p", network.websocket_handler)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound_port = runner.addresses[0][1]
    return RunningNode(identity, network, handler, f"http://127.0.0.1:{bound_port}/p2p", runner)


async def stop_node(node: RunningNode) -> None:
    await node.network.close()
    await node.runner.cleanup()
