"""`shopchain tx KIND --key FILE [--rpc URL] [--wait none|mempool|commit]`.

The body is ``--body JSON`` or one option per body field (``--to ADDR
--amount 100``). Field values read as: a whole number of up to 20 digits ->
integer; text starting with ``[``, ``{`` or ``"``, or ``true``/``false`` ->
JSON; anything else -> text. Fields named ``*_hash`` are 32-byte hashes
given in hex. The transaction is signed locally with the next nonce read
over RPC, submitted, and by default waited for until committed.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import click

from chain.errors import CodedError
from chain.keys import load_key_file
from cli.output import emit, reports_user_errors
from cli.query import DEFAULT_RPC
from node.client import WAIT_MODES, ShopchainClient

_INTEGER = re.compile(r"-?\d{1,20}")
_HASH_BYTES = 32


def parse_field_value(text: str) -> Any:
    if _INTEGER.fullmatch(text):
        return int(text)
    if text in ("true", "false") or text[:1] in ("[", "{", '"'):
        try:
            return json.loads(text)
        except ValueError:
            raise CodedError("cli.bad_field", f"{text!r} looks like JSON but does not parse; quote it for the shell") from None
    return text


def body_from_options(body_json: str | None, extra: list[str]) -> dict[str, Any]:
    if body_json is not None and extra:
        raise CodedError("cli.bad_field", "give the body either as --body JSON or as one option per field, not both")
    if body_json is not None:
        try:
            body = json.loads(body_json)
        except ValueError:
            raise CodedError("cli.bad_field", "--body is not JSON; wrap it in single quotes for the shell") from None
        if not isinstance(body, dict):
            raise CodedError("cli.bad_field", "--body must be a JSON object")
    else:
        body = _fields_from_options(extra)
    return {name: _hash_field(name, value) if name.endswith("_hash") else value for name, value in body.items()}


def _fields_from_options(extra: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    tokens = list(extra)
    while tokens:
        option = tokens.pop(0)
        if not option.startswith("--") or len(option) == 2:
            raise CodedError("cli.bad_field", f"expected --FIELD VALUE, got {option!r}")
        name, _, inline = option[2:].partition("=")
        if not inline and not tokens:
            raise CodedError("cli.bad_field", f"--{name} needs a value")
        value = inline if inline else tokens.pop(0)
        body[name.replace("-", "_")] = parse_field_value(value)
    return body


def _hash_field(name: str, value: Any) -> bytes:
    try:
        digest = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        digest = b""
    if len(digest) != _HASH_BYTES:
        raise CodedError("cli.bad_field", f"{name} is a {_HASH_BYTES}-byte hash written as {2 * _HASH_BYTES} hex digits")
    return digest


@click.command("tx", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("kind")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Key file of the sender.")
@click.option("--rpc", default=DEFAULT_RPC, show_default=True, help="The node's /rpc URL.")
@click.option("--wait", type=click.Choice(WAIT_MODES), default="commit", show_default=True,
              help="Return at once, once in the mempool, or once committed with its result.")
@click.option("--body", "body_json", default=None, help="The whole body as a JSON object.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@reports_user_errors
def tx_command(context: click.Context, kind: str, key_file: str, rpc: str, wait: str, body_json: str | None, as_json: bool) -> None:
    """Sign and submit a transaction of KIND (e.g. order.create); extra
    --FIELD VALUE options form its body."""
    key = load_key_file(key_file)
    body = body_from_options(body_json, list(context.args))

    async def submit() -> Any:
        async with ShopchainClient(rpc) as client:
            return await client.submit(await client.sign(key, kind, body), wait)

    result = asyncio.run(submit())
    data = {"id": result.id, "height": result.height, "index": result.index, "ok": result.ok,
            "code": result.code, "message": result.message, "events": list(result.events)}
    emit(data, as_json, _human(kind, wait, data))
    if result.ok is False:
        raise SystemExit(1)


def _human(kind: str, wait: str, data: dict[str, Any]) -> str:
    if wait != "commit":
        return f"{kind} {data['id']} submitted ({wait})"
    if data["ok"]:
        events = ", ".join(event.get("kind", "?") for event in data["events"])
        return f"{kind} {data['id']} committed at height {data['height']}: ok ({events})"
    return f"{kind} {data['id']} committed at height {data['height']}: failed {data['code']}: {data['message']}"
