"""Child processes of a local testnet: start every node, stop them all.

Used by ``shopchain testnet up``, ``make run`` and the cluster tests; each
node is a real ``shopchain node start`` process on loopback.
"""
from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from node.testnet import Testnet, load_testnet

STOP_GRACE_S = 10.0
READY_DEADLINE_S = 60.0


@dataclass
class NodeProcess:
    name: str
    home: Path
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Cluster:
    testnet: Testnet
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    def start(self, name: str) -> NodeProcess:
        node = next(n for n in self.testnet.nodes if n.name == name)
        log_path = node.home / "node.log"
        log = open(log_path, "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "node", "start", "--home", str(node.home)],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        running = NodeProcess(name, node.home, process, log_path)
        self.nodes[name] = running
        return running

    def start_all(self) -> None:
        for node in self.testnet.nodes:
            self.start(node.name)

    def wait_ready(self, name: str, deadline_s: float = READY_DEADLINE_S) -> dict:
        """The node's ready line (it prints one JSON line once it listens)."""
        running = self.nodes[name]
        readable, _, _ = select.select([running.process.stdout], [], [], deadline_s)
        if not readable:
            raise RuntimeError(f"{name} was not ready within {deadline_s} s; see {running.log_path}")
        line = running.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{name} exited before it was ready; see {running.log_path}")
        return json.loads(line)

    def kill(self, name: str) -> None:
        """SIGKILL: the node gets no chance to clean up."""
        running = self.nodes[name]
        running.process.kill()
        running.process.wait(STOP_GRACE_S)
        running.process.stdout.close()

    def stop(self, name: str) -> int:
        running = self.nodes[name]
        if running.alive():
            running.process.send_signal(signal.SIGTERM)
            try:
                running.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait(STOP_GRACE_S)
        if running.process.stdout and not running.process.stdout.closed:
            running.process.stdout.close()
        return running.process.returncode

    def stop_all(self) -> None:
        """SIGTERM every node at once, then wait for each."""
        for running in self.nodes.values():
            if running.alive():
                running.process.send_signal(signal.SIGTERM)
        for name in list(self.nodes):
            self.stop(name)


@contextmanager
def running_cluster(testnet: Testnet, names: list[str] | None = None) -> Iterator[Cluster]:
    """The named nodes (all by default) started and ready; every process the
    cluster started stopped on the way out, whatever happens inside."""
    cluster = Cluster(testnet)
    try:
        names = names if names is not None else [node.name for node in testnet.nodes]
        for name in names:
            cluster.start(name)
        for name in names:
            cluster.wait_ready(name)
        yield cluster
    finally:
        cluster.stop_all()


def run_testnet(directory: Path, echo: Callable[[str], None], stop_on_exit: bool = False) -> None:
    """Run every node until SIGINT or SIGTERM, then stop them all. A node
    that exits meanwhile is reported once; the others keep running unless
    ``stop_on_exit``."""
    cluster = Cluster(load_testnet(directory))
    stopping = False

    def request_stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        cluster.start_all()
        for node in cluster.testnet.nodes:
            ready = cluster.wait_ready(node.name)
            echo(f"{node.name}: rpc {ready['rpc']}  p2p {ready['p2p']}  log {node.home / 'node.log'}")
        echo("testnet up; Ctrl-C stops every node")
        reported: set[str] = set()
        while not stopping:
            for running in cluster.nodes.values():
                if running.name not in reported and not running.alive():
                    reported.add(running.name)
                    still = len(cluster.nodes) - len(reported)
                    then = "stopping the others (--stop-on-exit)" if stop_on_exit else f"{still} nodes keep running"
                    echo(f"{running.name} exited with status {running.process.returncode}; see {running.log_path}; {then}")
                    stopping = stop_on_exit
            time.sleep(0.2)
    finally:
        cluster.stop_all()
        echo("testnet stopped")
