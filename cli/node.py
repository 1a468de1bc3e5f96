"""`shopchain node start --home H`: run one node until interrupted.
`shopchain node declare-sign-state`: the operator's word for a validator
that lost its sign_state file, when recovery alone cannot go on."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

import click

from cli.output import reports_user_errors
from consensus.sign_state import SignStateError
from node.home import open_home
from node.sign_state_file import SignStateFile

HALTED_EXIT = 2


@click.group("node")
def node_group() -> None:
    """Run a node from its home folder."""


@node_group.command("start")
@click.option("--home", "home_path", required=True, type=click.Path(file_okay=False), help="The node home.")
@reports_user_errors
def node_start(home_path: str) -> None:
    """Start the node; Ctrl-C (or SIGTERM) stops it cleanly. Prints one JSON
    line with its addresses once it listens."""
    home = open_home(home_path)
    logging.basicConfig(level=home.config.node.log_level, stream=sys.stderr,
                        format=f"%(asctime)s {home.config.node.name} %(name)s %(levelname)s %(message)s")
    runtime_error = asyncio.run(_run(home))
    if runtime_error is not None:
        click.echo(f"node.halted: {runtime_error}; the node stopped to protect its state (see its log)", err=True)
        sys.exit(HALTED_EXIT)


@node_group.command("declare-sign-state")
@click.option("--home", "home_path", required=True, type=click.Path(file_okay=False), help="The validator's home.")
@click.option("--signed-nothing-from", "from_height", required=True, type=click.IntRange(min=1),
              help="The height from which on this validator signed nothing.")
@click.option("--confirm", is_flag=True, help="You checked that it signed nothing at that height or above.")
@reports_user_errors
def declare_sign_state(home_path: str, from_height: int, confirm: bool) -> None:
    """Write a lost sign_state file from your word that this validator signed
    nothing at --signed-nothing-from or above: it then signs from that height
    on. Only when more than f validators lost their files at once, so the
    chain cannot reach the block their recovery waits for (docs/operations.md,
    "Lost sign_state files"). A wrong word can make it sign twice."""
    home = open_home(home_path)
    if not confirm:
        raise SignStateError(
            "sign_state.unconfirmed",
            f"this tells {home.sign_state_path} that the validator signed nothing at height {from_height} or above; "
            "if it did, it may now sign twice. Check first (docs/operations.md, \"Lost sign_state files\"), then "
            "run again with --confirm")
    state = SignStateFile(home.sign_state_path, home.genesis.chain_id, home.key.public_key).declare(from_height)
    click.echo(json.dumps({"sign_state": str(home.sign_state_path), "signs_from_height": from_height,
                           "floor": state.floor}))


async def _run(home) -> BaseException | None:
    from node.runtime import NodeRuntime

    runtime = NodeRuntime(home)
    addresses = await runtime.start()
    click.echo(json.dumps({"node": home.config.node.name, "ready": True, "rpc": addresses.rpc, "p2p": addresses.p2p}))
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: loop.create_task(runtime.stop()))
    await runtime.wait_stopped()
    return runtime.fatal
