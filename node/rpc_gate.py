"""Who may hold a connection to the RPC port, and how fast each may ask.

Every client of ``/rpc``, ``/ws``, ``/health``, ``/metrics`` and the explorer
is one TCP connection. The gate caps open connections in all and per client
address, and gives each connection a budget of requests per second (a token
bucket; a websocket's messages draw on it too). On loopback every local
client shares one address, so the per-address cap is a share of the total
(an outside address cannot take every slot), never a rate: the explorer, the
load generator and other local tools each run at their connections' own
rates (docs/configuration.md, "What a client is").

A refused connection is answered ``503`` with a JSON-RPC error and closed; a
request over its connection's budget is answered ``429``.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from node.jsonrpc import coded

Clock = Callable[[], float]


class TokenBucket:
    """``rate_per_s`` tokens a second, up to ``burst`` saved; each request takes one."""

    def __init__(self, rate_per_s: float, burst: int, now_s: float) -> None:
        self._rate_per_s = rate_per_s
        self._burst = burst
        self._tokens = float(burst)
        self._at_s = now_s

    def take(self, now_s: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now_s - self._at_s) * self._rate_per_s)
        self._at_s = now_s
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def error_body(code: str, message: str) -> bytes:
    """A JSON-RPC error response with no id, as the HTTP layer answers."""
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": coded(code, message).to_json()}).encode()


class RpcGate:
    def __init__(self, connections_max: int, connections_per_address_max: int, requests_per_s: float,
                 requests_burst: int, clock: Clock = time.monotonic,
                 on_refusal: Callable[[str], None] = lambda code: None) -> None:
        self.connections_max = connections_max
        self.connections_per_address_max = connections_per_address_max
        self.requests_per_s = requests_per_s
        self.requests_burst = requests_burst
        self.clock = clock
        self.open_by_address: dict[str, int] = {}
        self.refused: dict[str, int] = {}     # code -> count
        self._on_refusal = on_refusal

    @property
    def open(self) -> int:
        return sum(self.open_by_address.values())

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.Protocol]:
        """What the listening socket calls for each accepted connection."""
        return lambda: _GatedConnection(self, server())

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address`` in, or the code that refuses it."""
        if self.open >= self.connections_max:
            return "rpc.too_many_connections"
        if self.open_by_address.get(address, 0) >= self.connections_per_address_max:
            return "rpc.too_many_connections_from_address"
        self.open_by_address[address] = self.open_by_address.get(address, 0) + 1
        return None

    def release(self, address: str) -> None:
        left = self.open_by_address[address] - 1
        if left:
            self.open_by_address[address] = left
        else:
            del self.open_by_address[address]

    def note_refusal(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1
        self._on_refusal(code)

    def refusal_message(self, code: str) -> str:
        if code == "rpc.too_many_connections":
            return f"the node holds its {self.connections_max} client connections; retry later or reuse a connection"
        if code == "rpc.too_many_connections_from_address":
            return (f"this address holds {self.connections_per_address_max} connections, its most; "
                    "reuse a connection (keep-alive) or close some")
        return f"at most {self.requests_per_s:g} requests per second per connection; slow down or spread over connections"

    def take(self, request: web.Request) -> bool:
        """Draw one request (or websocket message) from its connection's budget."""
        transport = request.transport
        gated = transport.get_protocol() if transport is not None else None
        return not isinstance(gated, _GatedConnection) or gated.bucket.take(self.clock())

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if self.take(request):
            return await handler(request)
        self.note_refusal("rpc.rate_limited")
        return web.Response(body=error_body("rpc.rate_limited", self.refusal_message("rpc.rate_limited")), status=429,
                            content_type="application/json", headers={"Retry-After": "1"})


class _GatedConnection(asyncio.Protocol):
    """The HTTP server's protocol for one connection, behind the gate: the
    connection is counted (or refused) when it opens and released when it
    closes, and carries its request budget."""

    def __init__(self, gate: RpcGate, inner: Any) -> None:
        self._gate = gate
        self._inner = inner
        self._address: str | None = None
        self.bucket = TokenBucket(gate.requests_per_s, gate.requests_burst, gate.clock())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        refusal = self._gate.admit(address)
        if refusal is not None:
            self._gate.note_refusal(refusal)
            body = error_body(refusal, self._gate.refusal_message(refusal))
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                            b"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            transport.close()
            return
        self._address = address
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return
        self._gate.release(self._address)
        self._address = None
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._address is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._address is not None else None

    def pause_writing(self) -> None:
        if self._address is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._address is not None:
            self._inner.resume_writing()


async def listen(runner: web.AppRunner, gate: RpcGate, host: str, port: int) -> asyncio.AbstractServer:
    """Serve ``runner``'s application on host:port behind ``gate``; the caller
    closes the returned server before cleaning up the runner."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up before listening")
    return await asyncio.get_running_loop().create_server(gate.protocol_factory(server), host, port)
