"""`shopchain verify …`: an object read from one node and proven against
the validators' signatures from a trusted genesis, never on the node's word
(chain/light.py, commerce/proven.py)."""
from __future__ import annotations

import asyncio
import datetime
import time
from pathlib import Path
from typing import Any, Callable

import click

from chain.errors import CodedError
from chain.genesis import genesis_from_document, parse_genesis
from chain.light import Trust, Verified, VerifyFailed
from cli.output import emit, reports_user_errors
from cli.query import DEFAULT_RPC, _human
from commerce import queries
from node.client import ShopchainClient

# subcommand -> (commerce getter, what the argument names)
VERIFIERS: dict[str, tuple[Callable[..., Any], str]] = {
    "account": (queries.account_get, "ADDRESS (its hex public key): roles, nonce and every balance"),
    "coupon-batch": (queries.coupon_batch_get, "BATCH (the id of its coupon.issue)"),
    "coupon": (queries.coupon_get, "COUPON (batch/n)"),
    "order": (queries.order_get, "ORDER (the id of its order.create)"),
    "product": (queries.product_get, "PRODUCT (merchant/sku)"),
    "trace": (queries.trace_get, "SUBJECT (an order id or merchant/sku/lot)"),
    "contract": (queries.contract_get, "CONTRACT (the id of its contract.create)"),
}


@click.group("verify")
def verify_group() -> None:
    """Read an object from one node and prove it against the genesis validators' signatures."""


def block_time_text(time_ms: int) -> str:
    return datetime.datetime.fromtimestamp(time_ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _trust(rpc: str, genesis_path: str | None, genesis_hash: str | None) -> Trust:
    """The genesis to trust: the file given, or the one the node serves when
    only its hash is given (the hash is checked either way)."""
    expected = None
    if genesis_hash is not None:
        try:
            expected = bytes.fromhex(genesis_hash)
        except ValueError:
            raise click.BadParameter("a hex SHA-256", param_hint="--genesis-hash") from None
    if genesis_path is None:
        if expected is None:
            raise click.UsageError("give --genesis FILE, or --genesis-hash HEX to check the node's genesis against")

        async def fetch() -> dict[str, Any]:
            async with ShopchainClient(rpc) as client:
                return await client.call("genesis_get")

        try:
            genesis = genesis_from_document(asyncio.run(fetch())["document"])
        except (CodedError, KeyError, TypeError) as error:
            raise VerifyFailed(f"the node's genesis document is not one ({error})") from None
        return Trust.from_genesis(genesis, expected)
    try:
        genesis = parse_genesis(Path(genesis_path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CodedError("verify.no_genesis", f"cannot read {genesis_path} ({error.strerror}); give the chain's genesis.json") from None
    return Trust.from_genesis(genesis, expected)


def _trust_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--rpc, --genesis and --genesis-hash: whom to ask, and whom to trust."""
    for option in reversed([
        click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's /rpc URL (any one node)."),
        click.option("--genesis", "genesis_path", type=click.Path(dir_okay=False),
                     help="The chain's genesis.json: its validators are whom the proof must come from."),
        click.option("--genesis-hash", help="The genesis hash you trust (hex): checks --genesis, or without it the "
                                            "genesis the node serves."),
    ]):
        command = option(command)
    return command


def _batch_lines(batch: dict[str, Any]) -> list[str]:
    left = batch["total"] - batch["sold_online"] - batch["sold_offline"]
    return [f"coupon batch {batch['batch']} ({batch['brand']}: {batch['content']})",
            f"declared total   {batch['total']}", f"offline quota    {batch['offline_quota']}",
            f"sold online      {batch['sold_online']}", f"sold offline     {batch['sold_offline']}",
            f"redeemed         {batch['redeemed']}", f"left             {left}"]


def _make_verifier(name: str, getter: Callable[..., Any], argument: str) -> click.Command:
    @click.command(name, help=f"Prove one {name}: {argument}.")
    @click.argument("value")
    @_trust_options
    @click.option("--height", type=click.IntRange(min=1), help="Read at this height (default: the last committed).")
    @click.option("--max-age", "max_age_s", type=click.IntRange(min=0), default=60, show_default=True,
                  help="Refuse an answer read at a block older than this many seconds, unless --height asks for it.")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    @reports_user_errors
    def verifier(value: str, rpc: str, genesis_path: str | None, genesis_hash: str | None, height: int | None,
                 max_age_s: int, as_json: bool) -> None:
        trust = _trust(rpc, genesis_path, genesis_hash)

        async def run() -> tuple[Any, Verified]:
            async with ShopchainClient(rpc) as client:
                return await client.verify_query(trust, lambda state: getter(state, value), height)

        found, verified = asyncio.run(run())
        time_ms = verified.header.time_ms
        if height is None and time.time() * 1000 - time_ms > max_age_s * 1000:
            raise CodedError("verify.stale", f"the node answered from height {verified.height}, a block of "
                                             f"{block_time_text(time_ms)}, older than --max-age {max_age_s} s; "
                                             "ask another node, or pass --height to read that height on purpose")
        line = verified.line(block_time_text(time_ms))
        if found is None:
            raise CodedError("verify.absent", f"no {name} {value} at height {verified.height}: its absence is proven; {line}")
        lines = _batch_lines(found) if name == "coupon-batch" else [_human(queries.to_json(found))]
        emit({name.replace("-", "_"): queries.to_json(found), "height": verified.height, "block_time_ms": time_ms,
              "signers": verified.signers, "validators": verified.validators}, as_json, "\n".join([*lines, line]))

    return verifier


for _name, (_getter, _argument) in VERIFIERS.items():
    verify_group.add_command(_make_verifier(_name, _getter, _argument))


@verify_group.command("tx")
@click.argument("tx_id")
@_trust_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def verify_tx(tx_id: str, rpc: str, genesis_path: str | None, genesis_hash: str | None, as_json: bool) -> None:
    """Prove a committed transaction: TX_ID (hex). Its bytes in the block's
    tx_root, its result (ok, code, events) in results_root, the header signed
    by the genesis validators."""
    trust = _trust(rpc, genesis_path, genesis_hash)

    async def run():
        async with ShopchainClient(rpc) as client:
            return await client.verify_transaction(trust, tx_id)

    proven, verified = asyncio.run(run())
    tx = proven.tx
    facts = {"id": tx.id, "height": proven.height, "index": proven.index, "sender": tx.sender_address,
             "nonce": tx.nonce, "kind": tx.kind, "body": queries.to_json(tx.body), "ok": proven.ok, "code": proven.code,
             "events": queries.to_json(list(proven.events))}
    line = verified.line(block_time_text(verified.header.time_ms))
    emit({"transaction": facts, "height": verified.height, "block_time_ms": verified.header.time_ms,
          "signers": verified.signers, "validators": verified.validators}, as_json, "\n".join([_human(facts), line]))

