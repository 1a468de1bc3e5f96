"""`shopchain node start --home H`: run one node until interrupted."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys

import click

from cli.output import reports_user_errors
from node.home import open_home

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
