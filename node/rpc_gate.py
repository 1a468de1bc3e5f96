"""Who may hold a connection to the RPC port, and how fast each may ask.

Every client of ``/rpc``, ``/ws``, ``/health``, ``/metrics`` and the explorer
is one TCP connection. The gate caps open connections in all and per client
address, gives each connection a budget of requests per second (a token
bucket; a websocket's messages draw on it too), and each address a budget
of calls per second, every call of a JSON-RPC batch counted, so one address
cannot take the node's whole time from the others by opening connections.
On loopback every local client shares one address: the address budget's
default is far above what the explorer and the load generator ask for
(docs/configuration.md, "What a client is").

A refused connection is answered ``503`` with a JSON-RPC error and closed; a
request over a budget is answered ``429``.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from chain.budget import TokenBucket
from node.jsonrpc import coded

Clock = Callable[[], float]


def error_body(code: str, message: str) -> bytes:
    """A JSON-RPC error response with no id, as the HTTP layer answers."""
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": coded(code, message).to_json()}).encode()


class RpcGate:
    def __init__(self, connections_max: int, connections_per_address_max: int, requests_per_s: float,
                 requests_burst: int, clock: Clock = time.monotonic,
                 on_refusal: Callable[[str], None] = lambda code: None,
                 address_calls_per_s: float = 5000.0, address_calls_burst: int = 10_000) -> None:
        self.connections_max = connections_max
        self.connections_per_address_max = connections_per_address_max
        self.requests_per_s = requests_per_s
        self.requests_burst = requests_burst
        self.address_calls_per_s = address_calls_per_s
        self.address_calls_burst = address_calls_burst
        self.clock = clock
        self.open_by_address: dict[str, int] = {}
        self._calls_by_address: dict[str, TokenBucket] = {}    # of addresses with a connection open
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
        if address not in self._calls_by_address:
            self._calls_by_address[address] = TokenBucket(self.address_calls_per_s, self.address_calls_burst, self.clock())
        return None

    def release(self, address: str) -> None:
        left = self.open_by_address[address] - 1
        if left:
            self.open_by_address[address] = left
        else:
            del self.open_by_address[address]
            del self._calls_by_address[address]

    def note_refusal(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1
        self._on_refusal(code)

    def refusal_message(self, code: str) -> str:
        if code == "rpc.too_many_connections":
            return f"the node holds its {self.connections_max} client connections; retry later or reuse a connection"
        if code == "rpc.too_many_connections_from_address":
            return (f"this address holds {self.connections_per_address_max} connections, its most; "
                    "reuse a connection (keep-alive) or close some")
        if code == "rpc.rate_limited_address":
            return (f"this address made more than {self.address_calls_per_s:g} calls a second (each call of a batch "
                    "counted); slow down")
        return f"at most {self.requests_per_s:g} requests per second per connection; slow down or spread over connections"

    def take(self, request: web.Request) -> str | None:
        """Draw one request (or websocket message) from the budgets of its
        connection and its address; the refusal's code when one is spent."""
        gated = _gated(request)
        if gated is None:
            return None
        now = self.clock()
        if not gated.bucket.take(now):
            return "rpc.rate_limited"
        return None if self._calls_by_address[gated.address].take(now) else "rpc.rate_limited_address"

    def take_calls(self, request: web.Request, calls: int) -> str | None:
        """Draw the further calls of a batch from its address's budget."""
        gated = _gated(request)
        if gated is None or self._calls_by_address[gated.address].take(self.clock(), calls):
            return None
        return "rpc.rate_limited_address"

    def rate_limited(self, code: str) -> web.Response:
        """The answer to a request over a budget."""
        self.note_refusal(code)
        return web.Response(body=error_body(code, self.refusal_message(code)), status=429,
                            content_type="application/json", headers={"Retry-After": "1"})

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        refusal = self.take(request)
        if refusal is None:
            return await handler(request)
        return self.rate_limited(refusal)


def _gated(request: web.Request) -> "_GatedConnection | None":
    """The gate's record of the request's connection (None when it came some other way)."""
    transport = request.transport
    gated = transport.get_protocol() if transport is not None else None
    return gated if isinstance(gated, _GatedConnection) and gated.address is not None else None


class _GatedConnection(asyncio.Protocol):
    """The HTTP server's protocol for one connection, behind the gate: the
    connection is counted (or refused) when it opens and released when it
    closes, and carries its request budget."""

    def __init__(self, gate: RpcGate, inner: Any) -> None:
        self._gate = gate
        self._inner = inner
        self.address: str | None = None
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
        self.address = address
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is None:
            return
        self._gate.release(self.address)
        self.address = None
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.address is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self.address is not None else None

    def pause_writing(self) -> None:
        if self.address is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self.address is not None:
            self._inner.resume_writing()


async def listen(runner: web.AppRunner, gate: RpcGate, host: str, port: int) -> asyncio.AbstractServer:
    """Serve ``runner``'s application on host:port behind ``gate``; the caller
    closes the returned server before cleaning up the runner."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up before listening")
    return await asyncio.get_running_loop().create_server(gate.protocol_factory(server), host, port)
