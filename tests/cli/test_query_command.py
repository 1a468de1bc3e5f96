"""`shopchain query …` runs as a real process against a node's /rpc."""
import json
import subprocess
import sys
from pathlib import Path

from chain.errors import CodedError
from tests.cli.fake_node import FakeNode

SHOPCHAIN = str(Path(sys.executable).with_name("shopchain"))


async def order_get(order):
    if order == "missing":
        raise CodedError("order.unknown", "no order with this id; check the id from tx_submit")
    return {"order": order, "state": "shipped", "items": [{"sku": "tea", "qty": 2}], "amount": 2**60}


async def orders_list(**filters):
    return {"items": [{"order": "o1"}], "filters": filters}


def run(*args):
    return subprocess.run([SHOPCHAIN, *args], capture_output=True, text=True, timeout=60)


def test_query_getter_json_and_human_output():
    with FakeNode({"order_get": (["order"], order_get)}) as node:
        as_json = run("query", "order", "o1", "--rpc", node.url, "--json")
        human = run("query", "order", "o1", "--rpc", node.url)
        assert node.calls == [("order_get", {"order": "o1"}), ("order_get", {"order": "o1"})]
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"order": "o1", "state": "shipped", "items": [{"sku": "tea", "qty": 2}], "amount": 2**60}
    assert "state: shipped" in human.stdout and f"amount: {2**60}" in human.stdout


def test_query_error_is_code_message_with_exit_1():
    with FakeNode({"order_get": (["order"], order_get)}) as node:
        result = run("query", "order", "missing", "--rpc", node.url)
    assert result.returncode == 1
    assert result.stderr.strip() == "order.unknown: no order with this id; check the id from tx_submit"


def test_query_list_passes_filters():
    with FakeNode({"orders_list": (["state", "limit"], orders_list)}) as node:
        result = run("query", "list", "orders", "--filter", "state=shipped", "--filter", "limit=5", "--rpc", node.url, "--json")
    assert json.loads(result.stdout)["filters"] == {"state": "shipped", "limit": 5}
