"""The client-facing HTTP surface: ``/rpc`` (JSON-RPC) and ``/ws`` (subscriptions).

Both only read committed state and hand transactions to the mempool; they
never wait on consensus (CometBFT CVE-2023-34450). Bodies, batches and
subscriptions are capped, and each cap answers with a clear error.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from chain.errors import CodedError
from node.jsonrpc import INVALID_REQUEST, PARSE_ERROR, MethodTable, RpcError, coded
from node.subscriptions import SubscriptionHub


def add_http_api(app: web.Application, methods: MethodTable, hub: SubscriptionHub, body_bytes_max: int) -> None:
    app.router.add_post("/rpc", _rpc_handler(methods, body_bytes_max))
    app.router.add_get("/ws", _ws_handler(hub, body_bytes_max))


def _json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload), status=status, content_type="application/json")


def _rpc_handler(methods: MethodTable, body_bytes_max: int):
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > body_bytes_max:
            return _too_large(body_bytes_max)
        body = await request.content.read(body_bytes_max + 1)
        if len(body) > body_bytes_max:
            return _too_large(body_bytes_max)
        answer = await methods.dispatch(body)
        return web.Response(status=204) if answer is None else _json_response(answer)

    return handle


def _too_large(body_bytes_max: int) -> web.Response:
    error = coded("rpc.body_too_large", f"request bodies are at most {body_bytes_max} bytes; send less per call", INVALID_REQUEST)
    return _json_response({"jsonrpc": "2.0", "id": None, "error": error.to_json()}, status=413)


def _ws_handler(hub: SubscriptionHub, message_bytes_max: int):
    async def handle(request: web.Request) -> web.StreamResponse:
        websocket = web.WebSocketResponse(max_msg_size=message_bytes_max, heartbeat=30)
        await websocket.prepare(request)
        subscriber = hub.open()
        sender = asyncio.get_running_loop().create_task(_forward(subscriber, websocket))
        try:
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    break
                await websocket.send_str(json.dumps(_subscription_call(hub, subscriber, message.data)))
        finally:
            hub.close(subscriber)
            sender.cancel()
            await websocket.close()
        return websocket

    return handle


async def _forward(subscriber, websocket: web.WebSocketResponse) -> None:
    while True:
        notification = await subscriber.queue.get()
        if notification is None:
            lagging = coded("subscription.lagging", "notifications outran this connection; resubscribe and read faster")
            await websocket.send_str(json.dumps({"jsonrpc": "2.0", "method": "error", "params": lagging.to_json()}))
            await websocket.close()
            return
        await websocket.send_str(json.dumps({"jsonrpc": "2.0", "method": "notification", "params": notification}))


def _subscription_call(hub: SubscriptionHub, subscriber, text: str) -> dict[str, Any]:
    try:
        request = json.loads(text)
    except ValueError:
        return {"jsonrpc": "2.0", "id": None, "error": RpcError(PARSE_ERROR, "parse error: the message is not JSON").to_json()}
    request_id = request.get("id") if isinstance(request, dict) else None
    method = request.get("method") if isinstance(request, dict) else None
    params = request.get("params", {}) if isinstance(request, dict) else {}
    topic = params.get("topic") if isinstance(params, dict) else (params[0] if isinstance(params, list) and params else None)
    try:
        if method == "subscribe":
            hub.subscribe(subscriber, topic)
            return {"jsonrpc": "2.0", "id": request_id, "result": {"subscribed": topic}}
        if method == "unsubscribe":
            return {"jsonrpc": "2.0", "id": request_id, "result": {"unsubscribed": hub.unsubscribe(subscriber, topic)}}
    except CodedError as error:
        return {"jsonrpc": "2.0", "id": request_id, "error": coded(error.code, error.message).to_json()}
    error = RpcError(-32601, "method not found: /ws serves subscribe and unsubscribe")
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
