"""`shopchain testnet init|up`: a local network of validators on loopback."""
from __future__ import annotations

from pathlib import Path

import click

from cli.output import emit, reports_user_errors
from commerce.body import is_decimal
from node.testnet import DEFAULT_BASE_PORT, TestnetError, init_testnet


@click.group("testnet")
def testnet_group() -> None:
    """Create and run a local testnet (every address is 127.0.0.1)."""


@testnet_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--validators", type=int, required=True, help="Number of validators (node homes) to create.")
@click.option("--base-port", type=int, default=DEFAULT_BASE_PORT, show_default=True,
              help="Node i listens for peers on base+2i and for RPC on base+2i+1.")
@click.option("--chain-id", default="shopchain-local", show_default=True, help="The new chain's id.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A genesis parameter (docs/protocol.md section 9) over the testnet's own; repeatable. "
                   "Example: --param auto_confirm_ms=604800000.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def testnet_init(directory: Path, validators: int, base_port: int, chain_id: str, params: tuple[str, ...],
                 as_json: bool) -> None:
    """Write node homes, a shared genesis and DIRECTORY/testnet.json."""
    testnet = init_testnet(directory, validators, base_port, chain_id, params=_params(params))
    lines = [f"testnet {testnet.chain_id} in {directory}: {len(testnet.nodes)} validators"]
    lines += [f"  {node.name}: rpc {node.rpc_url}  p2p {node.p2p_url}" for node in testnet.nodes]
    lines.append(f"admin key: {testnet.admin_key_path}")
    data = {
        "chain_id": testnet.chain_id,
        "directory": str(directory),
        "admin_key": str(testnet.admin_key_path),
        "nodes": [{"name": n.name, "home": str(n.home), "p2p": n.p2p_url, "rpc": n.rpc_url} for n in testnet.nodes],
    }
    emit(data, as_json, "\n".join(lines))


@testnet_group.command("up")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--stop-on-exit", is_flag=True,
              help="Stop every node when one exits (by default the others keep running and the exit is reported).")
@reports_user_errors
def testnet_up(directory: Path, stop_on_exit: bool) -> None:
    """Run every node of DIRECTORY as a child process until interrupted;
    each node logs to its home's node.log. A node that exits is reported
    and the others keep running, unless --stop-on-exit."""
    from node.cluster import run_testnet

    run_testnet(directory, echo=click.echo, stop_on_exit=stop_on_exit)


def _params(given: tuple[str, ...]) -> dict[str, int | bool]:
    """NAME=VALUE pairs as genesis parameters: integers, or true and false."""
    params: dict[str, int | bool] = {}
    for item in given:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise TestnetError("testnet.invalid", f"--param takes NAME=VALUE, not {item!r}")
        if value in ("true", "false"):
            params[name] = value == "true"
        elif is_decimal(value):
            params[name] = int(value)
        else:
            raise TestnetError("testnet.invalid", f"--param {name} takes an integer, true or false, not {value!r}")
    return params
