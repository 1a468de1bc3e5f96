"""The client-facing HTTP surface: ``/rpc`` (JSON-RPC) and ``/ws`` (subscriptions).

Both only read committed state and hand transactions to the mempool; they
never wait on consensus (CometBFT CVE-2023-34450). Bodies, batches, JSON
nesting, subscriptions, connections and request rates are capped, and each
cap answers with a clear error. A body is read whole, whether sent with a
Content-Length or chunked, and refused with 413 once it passes its cap.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from chain.errors import CodedError
from node.jsonrpc import INVALID_REQUEST, METHOD_NOT_FOUND, MethodTable, RpcError, coded, load_json
from node.rpc_gate import RpcGate
from node.subscriptions import SubscriptionHub, Subscriber

log = logging.getLogger("shopchain.rpc")


def add_http_api(app: web.Application, methods: MethodTable, hub: SubscriptionHub, body_bytes_max: int,
                 gate: RpcGate, ws_send_timeout_s: float = 10.0, cors_allow_origin: str = "") -> None:
    app.middlewares.append(gate.middleware)
    if cors_allow_origin:
        app.middlewares.append(_cors_middleware(cors_allow_origin))
        app.router.add_route("OPTIONS", "/rpc", _preflight)
    app.router.add_post("/rpc", _rpc_handler(methods, body_bytes_max, gate))
    app.router.add_get("/ws", _ws_handler(hub, body_bytes_max, gate, ws_send_timeout_s))


def _cors_middleware(origin: str):
    """Let pages of ``origin`` read /rpc from a browser: an explorer served by
    one node checks what another answers. No credentials are involved."""
    @web.middleware
    async def cors(request: web.Request, handler: Callable) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/rpc":
            response.headers["Access-Control-Allow-Origin"] = origin
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "POST"
                response.headers["Access-Control-Allow-Headers"] = "Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
        return response

    return cors


async def _preflight(request: web.Request) -> web.Response:
    return web.Response(status=204)


def add_health_route(app: web.Application, health: Callable[[], tuple[int, dict[str, Any]]]) -> None:
    """``/health``: 200 while the node commits, 503 with its reasons when not (node/health.py)."""
    async def handle(request: web.Request) -> web.Response:
        status, body = health()
        return _json_response(body, status)

    app.router.add_get("/health", handle)


def _json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")


def _rpc_handler(methods: MethodTable, body_bytes_max: int, gate: RpcGate):
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > body_bytes_max:
            return _too_large(body_bytes_max)
        body = await _read_body(request, body_bytes_max)
        if body is None:
            return _too_large(body_bytes_max)
        try:
            payload = load_json(body)
        except RpcError as error:
            return _json_response(methods.refuse(None, error))
        if isinstance(payload, list) and len(payload) > 1:
            refusal = gate.take_calls(request, len(payload) - 1)
            if refusal is not None:
                return gate.rate_limited(refusal)
        answer = await methods.dispatch_payload(payload)
        return web.Response(status=204) if answer is None else _json_response(answer)

    return handle


async def _read_body(request: web.Request, body_bytes_max: int) -> bytes | None:
    """The whole body, or None once it passes ``body_bytes_max`` (the rest is
    not read: the connection is closed after the answer)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > body_bytes_max:
            return None
        chunks.append(chunk)


def _too_large(body_bytes_max: int) -> web.Response:
    error = coded("rpc.body_too_large", f"request bodies are at most {body_bytes_max} bytes; send less per call", INVALID_REQUEST)
    response = _json_response({"jsonrpc": "2.0", "id": None, "error": error.to_json()}, status=413)
    response.force_close()
    return response


def _ws_handler(hub: SubscriptionHub, message_bytes_max: int, gate: RpcGate, send_timeout_s: float):
    async def handle(request: web.Request) -> web.StreamResponse:
        websocket = web.WebSocketResponse(max_msg_size=message_bytes_max, heartbeat=30)
        await websocket.prepare(request)
        client = _WsClient(websocket, request.transport, send_timeout_s)
        subscriber = hub.open()
        sender = asyncio.get_running_loop().create_task(_forward(subscriber, client))
        try:
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    break
                refusal = gate.take(request)
                if refusal is None:
                    answer = _subscription_call(hub, subscriber, message.data)
                else:
                    gate.note_refusal(refusal)
                    answer = {"jsonrpc": "2.0", "id": None, "error": coded(refusal, gate.refusal_message(refusal)).to_json()}
                if not await client.send(answer):
                    break
        finally:
            hub.close(subscriber)
            sender.cancel()
            if not client.cut:
                await websocket.close()
        return websocket

    return handle


class _WsClient:
    """One websocket client's sending side. A send the client has not taken
    within ``send_timeout_s`` cuts the connection off: a client that does not
    read must hold neither the node's memory nor its sender."""

    def __init__(self, websocket: web.WebSocketResponse, transport: asyncio.BaseTransport | None,
                 send_timeout_s: float) -> None:
        self._websocket = websocket
        self._transport = transport
        self._send_timeout_s = send_timeout_s
        self.cut = False

    async def send(self, payload: dict[str, Any]) -> bool:
        if self.cut:
            return False
        try:
            await asyncio.wait_for(self._websocket.send_str(json.dumps(payload)), self._send_timeout_s)
        except asyncio.TimeoutError:
            self.cut_off(f"the client took no message for {self._send_timeout_s:g} s")
            return False
        except ConnectionError:
            return False
        return True

    async def close(self, reason: str) -> None:
        """Close with a reason the client can read (it has been reading)."""
        try:
            await asyncio.wait_for(self._websocket.close(code=WSCloseCode.POLICY_VIOLATION, message=reason.encode()[:120]),
                                   self._send_timeout_s)
        except asyncio.TimeoutError:
            self.cut_off("the client did not answer the close")

    def cut_off(self, why: str) -> None:
        """Drop the connection and what is queued for it (the client is not reading)."""
        log.info("cut off a websocket client: %s", why)
        self.cut = True
        if self._transport is not None:
            self._transport.abort()


async def _forward(subscriber: Subscriber, client: _WsClient) -> None:
    while True:
        notification = await subscriber.queue.get()
        if notification is None:
            lagging = coded("subscription.lagging", "notifications outran this connection; resubscribe and read faster")
            if await client.send({"jsonrpc": "2.0", "method": "error", "params": lagging.to_json()}):
                await client.close("subscription.lagging: notifications outran this connection")
            return
        if not await client.send({"jsonrpc": "2.0", "method": "notification", "params": notification}):
            return


def _subscription_call(hub: SubscriptionHub, subscriber: Subscriber, text: str) -> dict[str, Any]:
    try:
        request = load_json(text)
    except RpcError as error:
        return {"jsonrpc": "2.0", "id": None, "error": error.to_json()}
    if not isinstance(request, dict):
        error = RpcError(INVALID_REQUEST, "invalid request: expected {\"jsonrpc\": \"2.0\", \"method\": ..., \"params\": {\"topic\": ...}}")
        return {"jsonrpc": "2.0", "id": None, "error": error.to_json()}
    request_id = request.get("id")
    method = request.get("method")
    params = request.get("params", {})
    topic = params.get("topic") if isinstance(params, dict) else (params[0] if isinstance(params, list) and params else None)
    if method not in ("subscribe", "unsubscribe"):
        error = RpcError(METHOD_NOT_FOUND, "method not found: /ws serves subscribe and unsubscribe")
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    try:
        if method == "subscribe":
            hub.subscribe(subscriber, topic)
            return {"jsonrpc": "2.0", "id": request_id, "result": {"subscribed": topic}}
        hub.check_topic(topic)
        return {"jsonrpc": "2.0", "id": request_id, "result": {"unsubscribed": hub.unsubscribe(subscriber, topic)}}
    except CodedError as error:
        return {"jsonrpc": "2.0", "id": request_id, "error": coded(error.code, error.message).to_json()}
