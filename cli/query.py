"""`shopchain query …`: one subcommand per getter of the RPC API."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from cli.output import emit, reports_user_errors
from commerce.body import is_decimal
from node.client import ShopchainClient

DEFAULT_RPC = "http://127.0.0.1:26657/rpc"

# subcommand -> (RPC method, its parameter name, click type of the argument)
GETTERS: dict[str, tuple[str, str, Any]] = {
    "account": ("account_get", "address", str),
    "tx": ("tx_get", "id", str),
    "block": ("block_get", "height", int),
    "product": ("product_get", "product", str),
    "order": ("order_get", "order", str),
    "coupon-batch": ("coupon_batch_get", "batch", str),
    "coupon": ("coupon_get", "coupon", str),
    "trace": ("trace_get", "subject", str),
    "contract": ("contract_get", "contract", str),
    "proof": ("proof_tx", "id", str),
}


@click.group("query")
def query_group() -> None:
    """Read committed state from a node over JSON-RPC."""


def _run(rpc: str, method: str, params: dict[str, Any]) -> Any:
    async def call() -> Any:
        async with ShopchainClient(rpc) as client:
            return await client.call(method, **params)

    return asyncio.run(call())


def _human(value: Any, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.append(_human(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {json.dumps(item) if isinstance(item, (dict, list)) else item}")
        return "\n".join(lines)
    if isinstance(value, list):
        return "\n".join(f"{pad}- {json.dumps(item, sort_keys=True)}" for item in value)
    return f"{pad}{value}"


def _make_getter(name: str, method: str, param: str, kind: Any) -> click.Command:
    @click.command(name, help=f"Show one {name} ({method}).")
    @click.argument("value", type=kind)
    @click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's /rpc URL.")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    @reports_user_errors
    def getter(value: Any, rpc: str, as_json: bool) -> None:
        result = _run(rpc, method, {param: value})
        emit(result, as_json, _human(result))

    return getter


for _name, (_method, _param, _kind) in GETTERS.items():
    query_group.add_command(_make_getter(_name, _method, _param, _kind))


@query_group.command("trace-export")
@click.argument("subject")
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's /rpc URL.")
@reports_user_errors
def trace_export(subject: str, rpc: str) -> None:
    """Print SUBJECT's trace as a GS1 EPCIS 2.0 JSON-LD document (trace_export)."""
    click.echo(json.dumps(_run(rpc, "trace_export", {"subject": subject})["document"], indent=1))


@query_group.command("status")
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's /rpc URL.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def status(rpc: str, as_json: bool) -> None:
    """Show the node's chain status (chain_status)."""
    result = _run(rpc, "chain_status", {})
    emit(result, as_json, _human(result))


@query_group.command("list")
@click.argument("what", type=click.Choice(["orders", "products", "coupons", "evidence"]))
@click.option("--filter", "filters", multiple=True, metavar="NAME=VALUE", help="A filter of the list method, repeatable.")
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's /rpc URL.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def list_items(what: str, filters: tuple[str, ...], rpc: str, as_json: bool) -> None:
    """List orders, products, coupons or evidence (orders_list, …) with filters and paging."""
    params: dict[str, Any] = {}
    for item in filters:
        name, _, value = item.partition("=")
        if not name or not _:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--filter")
        params[name] = int(value) if is_decimal(value) else value
    result = _run(rpc, f"{what}_list", params)
    emit(result, as_json, _human(result))
