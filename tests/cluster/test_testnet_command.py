"""The operator's path on the command line: `testnet init`, `testnet up`, a
transaction and a query with --json, then Ctrl-C stops every node."""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.cluster.clusterutil import free_port_base, processes_mentioning, read_lines, wait_for_line
from tests.waiting import eventually_sync

pytestmark = pytest.mark.slow
SHOPCHAIN = str(Path(sys.executable).with_name("shopchain"))
UP_DEADLINE_S = 60


def shopchain(*args: str) -> dict:
    done = subprocess.run([SHOPCHAIN, *args, "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_init_up_tx_query_and_ctrl_c(tmp_path):
    directory = tmp_path / "net"
    base = free_port_base(8)
    shown = shopchain("testnet", "init", str(directory), "--validators", "4", "--base-port", str(base))
    written = json.loads((directory / "testnet.json").read_text())
    assert shown["chain_id"] == written["chain_id"] and len(shown["nodes"]) == 4
    assert [node["rpc"] for node in shown["nodes"]] == [f"http://127.0.0.1:{base + 2 * i + 1}/rpc" for i in range(4)]
    up, lines = start_up(directory)
    try:
        assert len(processes_mentioning(str(directory))) == 5       # `up` and its four nodes
        rpc = shown["nodes"][3]["rpc"]
        alice = shopchain("keys", "new", "--out", str(tmp_path / "alice.json"))["address"]
        minted = shopchain("tx", "funds.mint", "--key", shown["admin_key"], "--rpc", rpc, "--to", alice, "--amount", "42")
        assert minted["ok"] is True
        assert shopchain("query", "account", alice, "--rpc", shown["nodes"][0]["rpc"])["balances"] == {"SHC": 42}
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        wait_for_line(lines, "testnet stopped", 5)
        assert processes_mentioning(str(directory)) == []
    finally:
        stop_up(up, directory)


def start_up(directory: Path, *flags: str) -> tuple[subprocess.Popen, queue.Queue]:
    up = subprocess.Popen([SHOPCHAIN, "testnet", "up", str(directory), *flags], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(up.stdout, lines), daemon=True).start()
    wait_for_line(lines, "testnet up; Ctrl-C stops every node", UP_DEADLINE_S)
    return up, lines


def stop_up(up: subprocess.Popen, directory: Path) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
    for pid in processes_mentioning(str(directory)):
        os.kill(pid, signal.SIGKILL)


def height(rpc: str) -> int:
    return shopchain("query", "status", "--rpc", rpc)["height"]


@pytest.mark.parametrize("stop_on_exit", [False, True])
def test_a_node_that_exits_is_reported_and_the_others_run_on_unless_asked(tmp_path, stop_on_exit):
    directory = tmp_path / "net"
    shown = shopchain("testnet", "init", str(directory), "--validators", "4", "--base-port", str(free_port_base(8)))
    up, lines = start_up(directory, *(["--stop-on-exit"] if stop_on_exit else []))
    try:
        [victim] = processes_mentioning(str(directory / "node2"))
        os.kill(victim, signal.SIGKILL)
        if stop_on_exit:
            wait_for_line(lines, "node2 exited with status -9", 30)
            wait_for_line(lines, "testnet stopped", 60)
            assert up.wait(timeout=30) == 0 and processes_mentioning(str(directory)) == []
            return
        seen = wait_for_line(lines, "node2 exited with status -9", 30)
        assert "3 nodes keep running" in seen[-1]
        assert len(processes_mentioning(str(directory))) == 4        # `up` and three nodes
        rpc = shown["nodes"][0]["rpc"]
        before = height(rpc)
        eventually_sync(lambda: height(rpc) >= before + 3, 60, what="three of four nodes committing on")
        assert up.poll() is None
    finally:
        stop_up(up, directory)
