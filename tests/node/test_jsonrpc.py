"""JSON-RPC 2.0 dispatch: the standard errors, batches, params, OpenRPC."""
import asyncio
import json

import pytest

from chain.errors import CodedError
from node.jsonrpc import STANDARD_CODES, Method, MethodTable, Param


async def echo(text: str, times: int = 1) -> str:
    return text * times


async def refuse() -> None:
    raise CodedError("coupon.sold_out", "all 10 coupons are sold")


async def crash() -> None:
    raise KeyError("a bug")


def table(batch_max: int = 5) -> MethodTable:
    methods = MethodTable("Shopchain test", "1", batch_max)
    methods.add(Method("echo", "Repeat text.", (
        Param("text", {"type": "string"}, "what to repeat"),
        Param("times", {"type": "integer", "minimum": 1}, "how often", required=False),
    ), {"type": "string"}, echo))
    methods.add(Method("refuse", "Always fails with a code.", (), {"type": "null"}, refuse))
    methods.add(Method("crash", "A bug.", (), {"type": "null"}, crash))
    return methods


def call(body, batch_max: int = 5):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return asyncio.run(table(batch_max).dispatch(raw))


def request(method, params=None, request_id=1):
    body = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        body["params"] = params
    return body


def test_params_by_name_and_by_position():
    assert call(request("echo", {"text": "ab", "times": 2}))["result"] == "abab"
    assert call(request("echo", ["ab", 3]))["result"] == "ababab"
    assert call(request("echo", {"text": "x"}))["result"] == "x"


@pytest.mark.parametrize("body, code", [
    (b"{not json", -32700),
    (b'"a string"', -32600),
    ({"jsonrpc": "1.0", "method": "echo", "id": 1}, -32600),
    ({"jsonrpc": "2.0", "method": "echo", "id": [1]}, -32600),
    ([], -32600),
    (request("missing"), -32601),
    (request("echo", {}), -32602),
    (request("echo", {"text": 5}), -32602),
    (request("echo", {"text": "a", "times": 0}), -32602),
    (request("echo", {"text": "a", "times": True}), -32602),
    (request("echo", {"text": "a", "colour": "red"}), -32602),
    (request("echo", ["a", 1, 2]), -32602),
    (request("echo", "a"), -32602),
    (request("crash"), -32603),
])
def test_standard_errors(body, code):
    response = call(body)
    assert response["error"]["code"] == code and response["jsonrpc"] == "2.0"
    assert response["error"]["data"]["code"] == STANDARD_CODES[code]


def test_application_error_carries_its_dotted_code():
    response = call(request("refuse", request_id="r1"))
    assert response["id"] == "r1"
    assert response["error"]["code"] == -32000
    assert response["error"]["data"] == {"code": "coupon.sold_out"}
    assert "all 10 coupons are sold" in response["error"]["message"]


def test_batch_answers_each_call_in_order_and_skips_notifications():
    notification = {"jsonrpc": "2.0", "method": "echo", "params": {"text": "n"}}
    responses = call([request("echo", {"text": "a"}, 1), notification, request("missing", None, 2)])
    assert [r["id"] for r in responses] == [1, 2]
    assert responses[0]["result"] == "a" and responses[1]["error"]["code"] == -32601


def test_only_notifications_get_no_answer():
    assert call({"jsonrpc": "2.0", "method": "echo", "params": {"text": "n"}}) is None
    assert call({"jsonrpc": "2.0", "method": "refuse"}) is None


def test_batch_over_its_cap_is_refused_whole():
    response = call([request("echo", {"text": "a"}, n) for n in range(6)], batch_max=5)
    assert response["error"]["code"] == -32600 and response["error"]["data"]["code"] == "rpc.batch_too_large"


def test_openrpc_document_lists_exactly_the_dispatched_methods():
    document = call(request("rpc.discover"))["result"]
    assert document["openrpc"].startswith("1.")
    assert [m["name"] for m in document["methods"]] == ["crash", "echo", "refuse", "rpc.discover"]
    echo_doc = next(m for m in document["methods"] if m["name"] == "echo")
    assert [(p["name"], p["required"]) for p in echo_doc["params"]] == [("text", True), ("times", False)]

