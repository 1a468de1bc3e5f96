"""/rpc and /ws over real sockets on 127.0.0.1, driven by the Python client."""
import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from chain.errors import CodedError
from node.client import RpcCallError, ShopchainClient
from node.http_api import add_http_api
from node.jsonrpc import Method, MethodTable, Param
from node.rpc_gate import RpcGate
from node.subscriptions import SubscriptionHub
from tests.waiting import eventually

BODY_MAX = 2048


async def account_get(address: str) -> dict:
    if address == "unknown":
        raise CodedError("account.unknown", "no such account; register it first")
    return {"address": address, "next_nonce": 4}


async def start(per_connection_max: int = 2, queue_max: int = 8, cors_allow_origin: str = ""):
    methods = MethodTable("test", "1", batch_max=3)
    methods.add(Method("account_get", "An account.", (Param("address", {"type": "string"}, "hex key"),), {"type": "object"}, account_get))
    hub = SubscriptionHub(per_connection_max, queue_max)
    app = web.Application()
    add_http_api(app, methods, hub, BODY_MAX, RpcGate(64, 64, 1000.0, 1000), cors_allow_origin=cors_allow_origin)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return runner, hub, f"http://127.0.0.1:{port}/rpc"


def run(scenario):
    async def wrapper():
        runner, hub, url = await start()
        try:
            await scenario(hub, url)
        finally:
            await runner.cleanup()
    asyncio.run(wrapper())


def test_client_calls_by_name_and_gets_coded_errors():
    async def scenario(hub, url):
        async with ShopchainClient(url) as client:
            assert await client.next_nonce("ab") == 4
            with pytest.raises(RpcCallError) as error:
                await client.account_get("unknown")
            assert error.value.code == "account.unknown" and error.value.message == "no such account; register it first"
            with pytest.raises(RpcCallError) as missing:
                await client.call("no_such_method")
            assert missing.value.code == "rpc.method_not_found"
    run(scenario)


def test_body_over_its_cap_gets_413_and_a_coded_error():
    async def scenario(hub, url):
        async with aiohttp.ClientSession() as session:
            big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "account_get", "params": {"address": "a" * BODY_MAX}})
            async with session.post(url, data=big) as response:
                assert response.status == 413
                assert (await response.json())["error"]["data"]["code"] == "rpc.body_too_large"
            async with session.post(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "account_get", "params": ["ab"]})) as ok:
                assert ok.status == 200 and (await ok.json())["result"]["address"] == "ab"
    run(scenario)


def test_notification_only_request_gets_204():
    async def scenario(hub, url):
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=json.dumps({"jsonrpc": "2.0", "method": "account_get", "params": ["ab"]})) as response:
                assert response.status == 204
    run(scenario)


def test_client_unreachable_is_a_coded_error():
    async def scenario():
        async with ShopchainClient("http://127.0.0.1:9/rpc") as client:
            with pytest.raises(RpcCallError) as error:
                await client.chain_status()
            assert error.value.code == "client.unreachable"
    asyncio.run(scenario())


async def ws_call(websocket, method, topic, request_id=1):
    await websocket.send_json({"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"topic": topic}})
    return json.loads((await websocket.receive()).data)


def test_subscribers_get_notifications_of_their_topics_only():
    async def scenario(hub, url):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:
                assert not hub.has_event_subscribers()
                assert (await ws_call(websocket, "subscribe", "events:order:abc"))["result"] == {"subscribed": "events:order:abc"}
                assert hub.has_event_subscribers()
                hub.publish("events:order:other", {"height": 1, "tx_id": "x"})
                hub.publish("events:order:abc", {"height": 2, "tx_id": "y", "event": {"type": "order.shipped"}})
                message = json.loads((await websocket.receive()).data)
                assert message["method"] == "notification"
                assert message["params"] == {"topic": "events:order:abc", "height": 2, "tx_id": "y", "event": {"type": "order.shipped"}}
                assert (await ws_call(websocket, "unsubscribe", "events:order:abc", 2))["result"] == {"unsubscribed": True}
                assert not hub.has_subscribers("events:order:abc") and not hub.has_event_subscribers()
    run(scenario)


def test_client_subscribe_yields_notifications():
    async def scenario(hub, url):
        async with ShopchainClient(url) as client:
            stream = client.subscribe("blocks")
            reader = asyncio.ensure_future(stream.__anext__())
            await eventually(lambda: hub.has_subscribers("blocks"), what="a blocks subscriber")
            assert not hub.has_event_subscribers()
            hub.publish("blocks", {"height": 7, "hash": "00"})
            assert await asyncio.wait_for(reader, 10) == {"topic": "blocks", "height": 7, "hash": "00"}
            await stream.aclose()
    run(scenario)


@pytest.mark.parametrize("topic", ["nope", "events:wallet:x", "events:order:" + "x" * 300, 5])
def test_bad_topics_are_refused(topic):
    async def scenario(hub, url):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:
                answer = await ws_call(websocket, "subscribe", topic)
                assert answer["error"]["data"]["code"] == "subscription.bad_topic"
    run(scenario)


def test_subscriptions_per_connection_are_capped():
    async def scenario(hub, url):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:
                assert "result" in await ws_call(websocket, "subscribe", "blocks")
                assert "result" in await ws_call(websocket, "subscribe", "events:order:a")
                answer = await ws_call(websocket, "subscribe", "events:order:b")
                assert answer["error"]["data"]["code"] == "subscription.too_many"
    run(scenario)


def test_lagging_subscriber_is_cut_off_without_blocking_publishers():
    async def scenario(hub, url):
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url.replace("/rpc", "/ws")) as websocket:
                await ws_call(websocket, "subscribe", "blocks")
                subscriber = next(iter(hub._by_topic["blocks"]))
                for height in range(100):  # far more than the queue of 8 holds, without yielding
                    hub.publish("blocks", {"height": height})
                assert subscriber.lagging and not hub.has_subscribers("blocks")
                messages = []
                async for message in websocket:
                    messages.append(json.loads(message.data))
                assert messages[-1]["params"]["data"]["code"] == "subscription.lagging"
    run(scenario)


@pytest.mark.parametrize("origin", ["*", ""])
def test_cors_on_rpc_is_what_the_config_allows(origin):
    """A page served by another node reads /rpc only when the config allows its origin."""
    async def scenario():
        runner, _, url = await start(cors_allow_origin=origin)
        try:
            async with aiohttp.ClientSession() as session:
                headers = {"Origin": "http://127.0.0.2:9", "Access-Control-Request-Method": "POST",
                           "Access-Control-Request-Headers": "content-type"}
                async with session.options(url, headers=headers) as preflight:
                    allowed = preflight.headers.get("Access-Control-Allow-Origin")
                    methods = preflight.headers.get("Access-Control-Allow-Methods")
                call = {"jsonrpc": "2.0", "id": 1, "method": "account_get", "params": {"address": "ab"}}
                async with session.post(url, json=call, headers={"Origin": "http://127.0.0.2:9"}) as answer:
                    assert (await answer.json())["result"]["next_nonce"] == 4
                    answered = answer.headers.get("Access-Control-Allow-Origin")
            if origin:
                assert allowed == answered == origin and methods == "POST"
            else:
                assert allowed is None and answered is None
        finally:
            await runner.cleanup()
    asyncio.run(scenario())


@pytest.mark.parametrize("answer", ["endless", "deep"])
def test_a_node_answering_without_end_or_nested_past_the_parser_is_a_coded_error(answer, monkeypatch):
    """A lying node's answer is refused as client.bad_answer: one of more than
    the cap, read no further than it (not the whole body in memory first), and
    one nested deeper than the JSON parser goes (it raised RecursionError)."""
    monkeypatch.setattr("node.client.ANSWER_BYTES_MAX", 1024 * 1024)
    sent = []

    async def liar(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        if answer == "deep":
            await response.write(b"[" * 200_000 + b"]" * 200_000)
            return response
        chunk = b" " * (256 * 1024)
        for _ in range(64):                      # 16 MiB, unless the client stops reading first
            try:
                await response.write(chunk)
            except (ConnectionError, RuntimeError):
                break
            sent.append(len(chunk))
        return response

    async def scenario():
        app = web.Application()
        app.router.add_post("/rpc", liar)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with ShopchainClient(f"http://127.0.0.1:{port}/rpc") as client:
                with pytest.raises(RpcCallError) as error:
                    await client.call("chain_status")
            return error.value
        finally:
            await runner.cleanup()
    refused = asyncio.run(scenario())
    assert refused.code == "client.bad_answer"
    assert sum(sent) < 16 * 1024 * 1024
