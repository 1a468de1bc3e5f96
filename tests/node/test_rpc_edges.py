"""The RPC port against clients that misbehave: deep or broken JSON, big and
chunked bodies, too many connections, too many requests, websocket clients
that do not read. Real sockets on 127.0.0.1, served behind the node's gate."""
import asyncio
import json
import socket

import aiohttp
import pytest
from aiohttp import web

from node.http_api import add_http_api
from node.jsonrpc import JSON_DEPTH_MAX, Method, MethodTable, Param
from node.rpc_gate import RpcGate, listen
from node.subscriptions import SubscriptionHub
from tests.waiting import eventually

BODY_MAX = 1024 * 1024


async def echo(text: str) -> dict:
    return {"length": len(text), "utf8": len(text.encode())}


class FakeClock:
    def __init__(self):
        self.now_s = 100.0

    def __call__(self):
        return self.now_s


def serve(scenario, gate=None, queue_max=1024, send_timeout_s=10.0):
    async def wrapper():
        methods = MethodTable("test", "1", batch_max=100)
        methods.add(Method("echo", "Echo a string's length.", (Param("text", {"type": "string"}, "any text"),), {"type": "object"}, echo))
        hub = SubscriptionHub(8, queue_max)
        the_gate = gate or RpcGate(64, 64, 10_000.0, 10_000)
        app = web.Application()
        add_http_api(app, methods, hub, BODY_MAX, the_gate, send_timeout_s)
        runner = web.AppRunner(app)
        await runner.setup()
        server = await listen(runner, the_gate, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await scenario(hub, f"http://127.0.0.1:{port}/rpc", the_gate)
        finally:
            server.close()
            await runner.cleanup()
    asyncio.run(wrapper())


def call(text, request_id=1):
    return {"jsonrpc": "2.0", "id": request_id, "method": "echo", "params": {"text": text}}


async def post(session, url, data, **kw):
    async with session.post(url, data=data, **kw) as response:
        return response.status, await response.json()


# -- JSON that is deep or not text ---------------------------------------------------------

@pytest.mark.parametrize("depth", [JSON_DEPTH_MAX + 1, 1_000, 100_000])
def test_deep_json_is_an_invalid_request_not_a_500(depth):
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            deep = '{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"text": "a", "x": ' + "[" * depth + "]" * depth + "}}"
            status, answer = await post(session, url, deep)
            assert status == 200
            assert answer["error"]["code"] == -32600 and answer["error"]["data"]["code"] == "rpc.invalid_request"
            assert f"deeper than {JSON_DEPTH_MAX} levels" in answer["error"]["message"]
            status, answer = await post(session, url, json.dumps(call("still serving")))
            assert answer["result"] == {"length": 13, "utf8": 13}
    serve(scenario)


def test_json_at_the_depth_bound_is_served():
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            nested = "[" * (JSON_DEPTH_MAX - 1) + "]" * (JSON_DEPTH_MAX - 1)   # inside the request object: depth 32
            body = '{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": ' + nested + "}"
            status, answer = await post(session, url, body)
            assert answer["error"]["data"]["code"] == "rpc.invalid_params"     # served: only the params are wrong
    serve(scenario)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\udc00b"])
def test_lone_surrogate_is_an_invalid_request_not_an_internal_error(escape):
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            body = '{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"text": "' + escape + '"}}'
            status, answer = await post(session, url, body)
            assert answer["error"]["data"]["code"] == "rpc.invalid_request" and "lone surrogate" in answer["error"]["message"]
            paired = '{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"text": "\\ud83d\\ude00"}}'
            status, answer = await post(session, url, paired)
            assert answer["result"] == {"length": 1, "utf8": 4}
    serve(scenario)


def strict_json(text):
    """JSON as RFC 8259 has it: Infinity and NaN are not JSON."""
    def refuse(constant):
        raise AssertionError(f"the answer holds {constant}, which is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_numbers_json_cannot_carry_back_are_an_invalid_request(number):
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            body = '{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"text": "a", "x": ' + number + "}}"
            status, answer = await post(session, url, body)
            assert answer["error"]["data"]["code"] == "rpc.invalid_request" and "out of range" in answer["error"]["message"]
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:
                await websocket.send_str('{"jsonrpc": "2.0", "id": ' + number + ', "method": "subscribe", "params": {"topic": "blocks"}}')
                answer = strict_json((await websocket.receive()).data)
                assert answer["error"]["data"]["code"] == "rpc.invalid_request" and answer["id"] is None
    serve(scenario)


def test_websocket_survives_deep_and_broken_json():
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:
                for text in ["[" * 5_000 + "]" * 5_000, '{"method": "subscribe", "params": {"topic": "\\ud800"}}', "not json",
                             '{"method": "unsubscribe", "params": {"topic": [1]}}', "[1, 2]"]:
                    await websocket.send_str(text)
                    answer = json.loads((await websocket.receive()).data)
                    assert answer["error"]["data"]["code"] in {"rpc.invalid_request", "rpc.parse_error", "subscription.bad_topic"}, answer
                await websocket.send_json({"jsonrpc": "2.0", "id": 7, "method": "subscribe", "params": {"topic": "blocks"}})
                assert json.loads((await websocket.receive()).data)["result"] == {"subscribed": "blocks"}
    serve(scenario)


# -- bodies, whole up to the cap -------------------------------------------------------------

def test_large_valid_body_under_the_cap_is_read_whole():
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            text = "x" * (BODY_MAX - 200)
            status, answer = await post(session, url, json.dumps(call(text)))
            assert status == 200 and answer["result"]["length"] == len(text)
    serve(scenario)


async def chunked(parts):
    for part in parts:
        yield part


def test_chunked_body_under_the_cap_is_read_whole():
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            raw = json.dumps(call("y" * 600_000)).encode()
            parts = [raw[i:i + 7_000] for i in range(0, len(raw), 7_000)]
            status, answer = await post(session, url, chunked(parts))
            assert status == 200 and answer["result"]["length"] == 600_000
    serve(scenario)


def test_chunked_body_over_the_cap_gets_413():
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            raw = json.dumps(call("z" * (BODY_MAX + BODY_MAX // 2))).encode()
            parts = [raw[i:i + 64 * 1024] for i in range(0, len(raw), 64 * 1024)]
            try:
                status, answer = await post(session, url, chunked(parts))
            except aiohttp.ClientError:
                pytest.fail("the node closed the connection without answering 413")
            assert status == 413 and answer["error"]["data"]["code"] == "rpc.body_too_large"
            status, answer = await post(session, url, json.dumps(call("after")))
            assert answer["result"]["length"] == 5
    serve(scenario)


# -- connections and request rates -------------------------------------------------------------

def raw_status_line(port, source="127.0.0.1"):
    """Open a connection from ``source``, send one request, return the status
    line, the bytes read and the socket, still open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0], data, sock


def test_connections_over_the_total_cap_get_503_and_freed_slots_are_reused():
    gate = RpcGate(connections_max=3, connections_per_address_max=3, requests_per_s=1000.0, requests_burst=1000)

    async def scenario(hub, url, gate):
        port = int(url.split(":")[2].split("/")[0])
        loop = asyncio.get_running_loop()
        held = []
        for _ in range(3):
            status, _, sock = await loop.run_in_executor(None, raw_status_line, port)
            assert status == b"HTTP/1.1 404 Not Found"
            held.append(sock)
        status, data, refused = await loop.run_in_executor(None, raw_status_line, port)
        assert status == b"HTTP/1.1 503 Service Unavailable"
        assert b'"rpc.too_many_connections"' in data
        refused.close()
        assert gate.refused == {"rpc.too_many_connections": 1} and gate.open == 3
        held.pop().close()
        await eventually(lambda: gate.open == 2, what="the closed connection released")
        status, _, sock = await loop.run_in_executor(None, raw_status_line, port)
        assert status == b"HTTP/1.1 404 Not Found"
        for sock in held + [sock]:
            sock.close()
        await eventually(lambda: gate.open == 0, what="every connection released")
    serve(scenario, gate=gate)


def test_one_address_cannot_take_every_slot():
    gate = RpcGate(connections_max=10, connections_per_address_max=2, requests_per_s=1000.0, requests_burst=1000)

    async def scenario(hub, url, gate):
        port = int(url.split(":")[2].split("/")[0])
        loop = asyncio.get_running_loop()
        held = [(await loop.run_in_executor(None, raw_status_line, port, "127.0.0.1"))[2] for _ in range(2)]
        status, data, refused = await loop.run_in_executor(None, raw_status_line, port, "127.0.0.1")
        assert status == b"HTTP/1.1 503 Service Unavailable" and b"rpc.too_many_connections_from_address" in data
        refused.close()
        status, _, other = await loop.run_in_executor(None, raw_status_line, port, "127.0.0.2")   # another address
        assert status == b"HTTP/1.1 404 Not Found"
        for sock in held + [other]:
            sock.close()
    serve(scenario, gate=gate)


def test_requests_over_a_connections_budget_get_429_until_it_refills():
    clock = FakeClock()
    gate = RpcGate(connections_max=10, connections_per_address_max=10, requests_per_s=2.0, requests_burst=3, clock=clock)

    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            for _ in range(3):
                status, answer = await post(session, url, json.dumps(call("a")))
                assert status == 200
            status, answer = await post(session, url, json.dumps(call("a")))
            assert status == 429 and answer["error"]["data"]["code"] == "rpc.rate_limited"
            clock.now_s += 0.5                      # one request's worth at 2 per second
            status, _ = await post(session, url, json.dumps(call("a")))
            assert status == 200
            status, _ = await post(session, url, json.dumps(call("a")))
            assert status == 429
        async with aiohttp.ClientSession() as other:   # another connection has its own budget
            status, _ = await post(other, url, json.dumps(call("a")))
            assert status == 200
    serve(scenario, gate=gate)


def test_an_address_budget_counts_every_call_over_all_its_connections():
    clock = FakeClock()
    gate = RpcGate(connections_max=10, connections_per_address_max=10, requests_per_s=1000.0, requests_burst=1000,
                   clock=clock, address_calls_per_s=2.0, address_calls_burst=5)

    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as first, aiohttp.ClientSession() as second:
            status, answers = await post(first, url, json.dumps([call("a", 1), call("b", 2), call("c", 3)]))
            assert status == 200 and len(answers) == 3
            status, _ = await post(second, url, json.dumps(call("d")))              # another connection, same address
            assert status == 200
            status, answer = await post(second, url, json.dumps([call("e", 1), call("f", 2)]))
            assert status == 429 and answer["error"]["data"]["code"] == "rpc.rate_limited_address"
            clock.now_s += 1.0                                                      # two calls' worth
            status, answers = await post(first, url, json.dumps([call("g", 1), call("h", 2)]))
            assert status == 200 and len(answers) == 2
        loop = asyncio.get_running_loop()
        port = int(url.split(":")[2].split("/")[0])
        status, _, sock = await loop.run_in_executor(None, raw_status_line, port, "127.0.0.2")
        assert status == b"HTTP/1.1 404 Not Found"                                  # its own budget
        sock.close()
        assert gate.refused == {"rpc.rate_limited_address": 1}
    serve(scenario, gate=gate)


def test_websocket_messages_draw_on_the_connections_budget():
    clock = FakeClock()
    gate = RpcGate(connections_max=10, connections_per_address_max=10, requests_per_s=1.0, requests_burst=3, clock=clock)

    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:   # the upgrade takes one
                codes = []
                for request_id in range(3):
                    await websocket.send_json({"jsonrpc": "2.0", "id": request_id, "method": "subscribe", "params": {"topic": "blocks"}})
                    answer = json.loads((await websocket.receive()).data)
                    codes.append(answer["error"]["data"]["code"] if "error" in answer else "ok")
                assert codes == ["ok", "ok", "rpc.rate_limited"]
    serve(scenario, gate=gate)


# -- websocket clients that do not read ----------------------------------------------------------

def test_websocket_client_that_does_not_read_is_cut_off():
    async def scenario(hub, url, gate):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws"), max_msg_size=0) as websocket:
                await websocket.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topic": "blocks"}})
                assert json.loads((await websocket.receive()).data)["result"] == {"subscribed": "blocks"}
                big = "b" * 200_000
                for height in range(400):              # 80 MB: far more than the socket buffers hold
                    hub.publish("blocks", {"height": height, "padding": big})
                await eventually(lambda: not hub.has_subscribers("blocks"), deadline_s=20, what="the non-reader unsubscribed")
                await eventually(lambda: gate.open == 0, deadline_s=20, what="the non-reader's connection dropped")
    serve(scenario, queue_max=1_000, send_timeout_s=0.3)
