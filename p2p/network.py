"""Peers over aiohttp websockets: handshake, gossip, send queues, reconnects, bans.

Three layers (hypercorn's shape): the websocket moves bytes and every
transport failure ends the link; ``secure_channel`` turns bytes into
authenticated plaintext; ``wire`` turns plaintext into (kind, payload) for
the node's handler. A peer that breaks the protocol (a bad frame, a flood, an
invalid message reported by the handler as ``PeerError``) is disconnected
and banned for a backoff that doubles with each offence.

Each link has one writer task draining a bounded queue, so frames are sealed
in the order they leave and a slow peer never blocks the node: when its queue
is full, new frames for it are dropped (block sync repairs what it missed).
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from chain.keys import KeyPair
from p2p.backoff import Backoff
from p2p.errors import PeerError
from p2p.secure_channel import Handshake, SecureSession
from p2p.seen_cache import SeenCache, message_id
from p2p.wire import GOSSIP_KINDS, decode_message, encode_message

log = logging.getLogger("shopchain.p2p")

# Room for the AEAD tag and websocket framing around the largest message.
_FRAME_OVERHEAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """The operator-tunable limits and timings of the peer network; the
    node's config.toml [p2p] section extends this with addresses."""

    # The largest message is a sync response: as many blocks as fit one frame, at least one of block_bytes_max.
    frame_bytes_max: int = 16 * 1024 * 1024
    send_queue_max: int = 4096
    seen_cache_max: int = 200_000
    handshake_timeout_s: float = 5.0
    heartbeat_s: float = 10.0
    reconnect_base_s: float = 0.2
    reconnect_cap_s: float = 5.0
    ban_base_s: float = 5.0
    ban_cap_s: float = 300.0
    inbound_frames_per_s_max: int = 20_000
    # Peers that are not validators of the genesis: how many, and how fast each may send.
    observers_max: int = 16
    observer_frames_per_s_max: int = 500
    # Inbound handshakes in progress: in all, from one address, and how many of all only
    # the hosts of persistent peers (the validators) may use.
    handshakes_max: int = 64
    handshakes_per_address_max: int = 8
    handshakes_reserved: int = 16


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    chain_id: str
    listen_address: str
    limits: PeerLimits = field(default_factory=PeerLimits)
    # The genesis validators: admitted by key, never counted as observers.
    validators: frozenset[bytes] = frozenset()


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A peer to keep connected to: its ``ws://host:port/p2p`` URL and, when
    known, the key it must prove."""

    url: str
    key: bytes | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class NetworkHandler(Protocol):
    def on_peer_connected(self, peer_key: bytes) -> None: ...

    def on_message(self, peer_key: bytes, kind: str, payload: bytes) -> None:
        """Handle one message; raise PeerError to drop and ban the sender."""

    def on_peer_disconnected(self, peer_key: bytes) -> None: ...


@dataclass(slots=True)
class _Link:
    peer_key: bytes
    dialed_by_us: bool
    websocket: Any
    session: SecureSession
    queue: asyncio.Queue[bytes]
    writer: asyncio.Task[None] | None = None
    dropped_frames: int = 0
    window_start_s: float = 0.0
    frames_in_window: int = 0


@dataclass(slots=True)
class _Ban:
    until_s: float
    backoff: Backoff


@dataclass(slots=True)
class NetworkStats:
    connects: int = 0
    disconnects: int = 0
    bans: int = 0
    dropped_duplicates: int = 0
    dropped_queue_full: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class PeerNetwork:
    def __init__(self, identity: KeyPair, config: NetworkConfig, handler: NetworkHandler, rng: random.Random | None = None) -> None:
        self._identity = identity
        self._config = config
        self._handler = handler
        self._rng = rng or random.Random()
        self._links: dict[bytes, _Link] = {}
        self._bans: dict[bytes, _Ban] = {}
        self._seen = SeenCache(config.limits.seen_cache_max)
        self._handshakes = HandshakeSlots(config.limits)
        self._dialers: list[asyncio.Task[None]] = []
        self._client: aiohttp.ClientSession | None = None
        self._closed = False
        self.stats = NetworkStats()

    # -- public API ---------------------------------------------------------

    def peers(self) -> list[bytes]:
        return sorted(self._links)

    def send(self, peer_key: bytes, kind: str, payload: bytes) -> bool:
        link = self._links.get(peer_key)
        return link is not None and self._enqueue(link, encode_message(kind, payload))

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> int:
        """Send to every connected peer but ``exclude``; gossip kinds are
        marked seen so their echoes are dropped. Returns the peers reached."""
        if kind in GOSSIP_KINDS:
            self._seen.add(message_id(kind, payload))
        plaintext = encode_message(kind, payload)
        return sum(self._enqueue(link, plaintext) for key, link in list(self._links.items()) if key != exclude)

    def add_persistent_peer(self, address: PeerAddress) -> None:
        self._handshakes.trust_host(address.host)
        self._dialers.append(asyncio.get_running_loop().create_task(self._dial_forever(address)))

    async def websocket_handler(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of ``/p2p``: one inbound peer for as long as it lasts."""
        address = request.remote or ""
        refusal = self._handshakes.take(address)
        if refusal is not None:
            self._count_refusal(refusal)
            raise web.HTTPServiceUnavailable(text=f"{refusal.code}: {refusal.message}")
        websocket = web.WebSocketResponse(max_msg_size=self._max_message_bytes, heartbeat=self._config.limits.heartbeat_s)
        try:
            await websocket.prepare(request)
        except BaseException:
            self._handshakes.release(address)
            raise
        await self._run_link(websocket, expected_key=None, dialed_by_us=False, handshake_from=address)
        return websocket

    async def close(self) -> None:
        self._closed = True
        for task in self._dialers:
            task.cancel()
        await asyncio.gather(*self._dialers, return_exceptions=True)
        for link in list(self._links.values()):
            await link.websocket.close()
        if self._client is not None:
            await self._client.close()

    # -- links ----------------------------------------------------------------

    @property
    def _max_message_bytes(self) -> int:
        return self._config.limits.frame_bytes_max + _FRAME_OVERHEAD_BYTES

    def _enqueue(self, link: _Link, plaintext: bytes) -> bool:
        try:
            link.queue.put_nowait(plaintext)
        except asyncio.QueueFull:
            link.dropped_frames += 1
            self.stats.dropped_queue_full += 1
            return False
        return True

    async def _run_link(self, websocket: Any, expected_key: bytes | None, dialed_by_us: bool,
                        handshake_from: str | None = None) -> bytes | None:
        """Handshake, then read until the link ends; the peer's key if it was
        admitted. An inbound link holds its handshake slot (taken for
        ``handshake_from``) until the handshake ends."""
        peer_key: bytes | None = None
        try:
            try:
                session = await asyncio.wait_for(self._handshake(websocket), self._config.limits.handshake_timeout_s)
            finally:
                if handshake_from is not None:
                    self._handshakes.release(handshake_from)
            peer_key = session.peer_key
            self._check_admission(peer_key, expected_key)
            link = _Link(peer_key, dialed_by_us, websocket, session, asyncio.Queue(self._config.limits.send_queue_max))
            if not self._register(link):
                return None
            try:
                await self._read_loop(link)
            finally:
                self._unregister(link)
            return peer_key
        except PeerError as error:
            self._refuse(peer_key, error)
        except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as error:
            log.debug("link to %s ended: %r", peer_key.hex() if peer_key else "unknown peer", error)
        finally:
            await websocket.close()
        return None

    async def _handshake(self, websocket: Any) -> SecureSession:
        handshake = Handshake(self._identity, self._config.chain_id, self._config.listen_address)
        await websocket.send_bytes(handshake.hello())
        auth = handshake.on_hello(await _receive_bytes(websocket))
        await websocket.send_bytes(auth)
        return handshake.on_auth(await _receive_bytes(websocket))

    def _check_admission(self, peer_key: bytes, expected_key: bytes | None) -> None:
        if peer_key == self._identity.public_key:
            raise PeerError("p2p.self", "connected to ourselves; remove our own address from the peer list")
        if expected_key is not None and peer_key != expected_key:
            raise PeerError("p2p.unexpected_key", f"peer proved key {peer_key.hex()}, the peer list expects {expected_key.hex()}")
        ban = self._bans.get(peer_key)
        if ban is not None and ban.until_s > _now_s():
            raise PeerError("p2p.banned", f"peer is banned for {ban.until_s - _now_s():.1f} s more")
        if not self._is_validator(peer_key) and peer_key not in self._links:
            observers = sum(1 for key in self._links if not self._is_validator(key))
            if observers >= self._config.limits.observers_max:
                raise PeerError("p2p.too_many_observers",
                                f"this node keeps {self._config.limits.observers_max} observer peers; try another node or later")

    def _is_validator(self, peer_key: bytes) -> bool:
        return peer_key in self._config.validators

    def _register(self, link: _Link) -> bool:
        """Keep one link per peer: of two, the one dialed by the lower key wins,
        which both ends decide alike."""
        existing = self._links.get(link.peer_key)
        if existing is not None:
            if _dialer_key(existing, self._identity.public_key) <= _dialer_key(link, self._identity.public_key):
                return False
            self._unregister(existing)
            asyncio.get_running_loop().create_task(existing.websocket.close())
        link.writer = asyncio.get_running_loop().create_task(self._write_loop(link))
        self._links[link.peer_key] = link
        self.stats.connects += 1
        self._handler.on_peer_connected(link.peer_key)
        return True

    def _unregister(self, link: _Link) -> None:
        if self._links.get(link.peer_key) is not link:
            return
        del self._links[link.peer_key]
        if link.writer is not None:
            link.writer.cancel()
        self.stats.disconnects += 1
        self._handler.on_peer_disconnected(link.peer_key)

    async def _write_loop(self, link: _Link) -> None:
        try:
            while True:
                plaintext = await link.queue.get()
                await link.websocket.send_bytes(link.session.sender.seal(plaintext))
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            await link.websocket.close()

    async def _read_loop(self, link: _Link) -> None:
        while True:
            ciphertext = await _receive_bytes(link.websocket)
            self._count_frame(link)
            kind, payload = decode_message(link.session.receiver.open(ciphertext), self._config.limits.frame_bytes_max)
            if kind in GOSSIP_KINDS and not self._seen.add(message_id(kind, payload)):
                self.stats.dropped_duplicates += 1
                continue
            self._handler.on_message(link.peer_key, kind, payload)

    def _count_frame(self, link: _Link) -> None:
        now = _now_s()
        if now - link.window_start_s >= 1.0:
            link.window_start_s, link.frames_in_window = now, 0
        link.frames_in_window += 1
        limits = self._config.limits
        frames_max = limits.inbound_frames_per_s_max if self._is_validator(link.peer_key) else limits.observer_frames_per_s_max
        if link.frames_in_window > frames_max:
            raise PeerError("p2p.flood", f"more than {frames_max} frames in a second")

    def _count_refusal(self, error: PeerError) -> None:
        self.stats.refused[error.code] = self.stats.refused.get(error.code, 0) + 1

    def _refuse(self, peer_key: bytes | None, error: PeerError) -> None:
        self._count_refusal(error)
        log.warning("peer %s refused: %s: %s", peer_key.hex() if peer_key else "(unauthenticated)", error.code, error.message)
        if peer_key is None or error.code in _REFUSED_WITHOUT_BAN:
            return
        ban = self._bans.setdefault(peer_key, _Ban(0.0, Backoff(self._config.limits.ban_base_s, self._config.limits.ban_cap_s, self._rng)))
        ban.until_s = _now_s() + ban.backoff.next_delay_s()
        self.stats.bans += 1

    # -- dialing --------------------------------------------------------------

    async def _dial_forever(self, address: PeerAddress) -> None:
        """Keep ``address`` connected; the key it proves the first time is then
        required of it, so a link that is already up is not dialled again."""
        backoff = Backoff(self._config.limits.reconnect_base_s, self._config.limits.reconnect_cap_s, self._rng)
        known_key = address.key
        while not self._closed:
            if known_key is None or known_key not in self._links:
                try:
                    peer_key = await self._dial_once(address.url, known_key)
                except Exception:  # a bug above us must not end the redialling for good
                    log.exception("link to %s failed unexpectedly", address.url)
                    peer_key = None
                if peer_key is not None:
                    known_key = peer_key
                    backoff.reset()
            await asyncio.sleep(backoff.next_delay_s())

    async def _dial_once(self, url: str, expected_key: bytes | None) -> bytes | None:
        if self._client is None:
            self._client = aiohttp.ClientSession()
        try:
            websocket = await self._client.ws_connect(
                url, max_msg_size=self._max_message_bytes, heartbeat=self._config.limits.heartbeat_s,
                timeout=aiohttp.ClientWSTimeout(ws_close=self._config.limits.handshake_timeout_s),
            )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
            log.debug("dial %s failed: %r", url, error)
            return None
        return await self._run_link(websocket, expected_key=expected_key, dialed_by_us=True)


# Refusals that say nothing bad of the peer: no ban.
_REFUSED_WITHOUT_BAN = ("p2p.self", "p2p.banned", "p2p.unexpected_key", "p2p.too_many_observers")


class HandshakeSlots:
    """Inbound handshakes in progress, capped in all and per address, so a
    flood of fresh keys costs the node little. The hosts of persistent peers
    (the validators, which dial each other) are exempt from the per-address
    cap and alone may use the last ``handshakes_reserved`` slots."""

    def __init__(self, limits: PeerLimits) -> None:
        self._limits = limits
        self._by_address: dict[str, int] = {}
        self._trusted_hosts: set[str] = set()

    def trust_host(self, host: str) -> None:
        self._trusted_hosts.add(host)

    @property
    def in_progress(self) -> int:
        return sum(self._by_address.values())

    def take(self, address: str) -> PeerError | None:
        """Hold a slot for a handshake from ``address``, or the refusal."""
        limits = self._limits
        trusted = address in self._trusted_hosts
        open_slots = limits.handshakes_max - (0 if trusted else limits.handshakes_reserved)
        if self.in_progress >= open_slots:
            return PeerError("p2p.handshakes_busy", f"{self.in_progress} handshakes are in progress; retry shortly")
        if not trusted and self._by_address.get(address, 0) >= limits.handshakes_per_address_max:
            return PeerError("p2p.handshakes_busy",
                             f"{limits.handshakes_per_address_max} handshakes from this address are in progress; finish them first")
        self._by_address[address] = self._by_address.get(address, 0) + 1
        return None

    def release(self, address: str) -> None:
        left = self._by_address.get(address, 0) - 1
        if left > 0:
            self._by_address[address] = left
        else:
            self._by_address.pop(address, None)


async def _receive_bytes(websocket: Any) -> bytes:
    message = await websocket.receive()
    if message.type == aiohttp.WSMsgType.BINARY:
        return message.data
    if message.type == aiohttp.WSMsgType.ERROR and getattr(message.data, "code", None) == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
        raise PeerError("p2p.frame_too_large", "the peer sent a frame over the size cap")
    if message.type == aiohttp.WSMsgType.TEXT:
        raise PeerError("p2p.bad_message", "text frames are not part of the protocol; frames are binary")
    raise ConnectionError(f"websocket closed ({message.type.name})")


def _dialer_key(link: _Link, own_key: bytes) -> bytes:
    return own_key if link.dialed_by_us else link.peer_key


def _now_s() -> float:
    return asyncio.get_running_loop().time()
