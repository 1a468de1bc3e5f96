"""Commerce execution over a state of 1,000,000 accounts, and the memory the
node's part of it takes.

The parent process plays the clients: it makes the world (1,000,000
shoppers and 10 merchants, funded at genesis), writes the genesis state and
tree to LevelDB, and signs every transaction. A child process plays the
node: it opens that LevelDB with the node's caches (the store's read cache,
the tree's node cache), executes the history (every shopper registers) and
then the timed blocks of the mixed workload of bench/commerce_bench.py,
each with its state root, and reports its resident memory (current and
peak, and how much of it is anonymous memory and how much mapped files,
from /proc). Transactions cross the pipe as encoded bytes and are
parsed untimed (signatures are checked elsewhere in the node, and
excluded here as in bench/commerce_bench.py).
"""
from __future__ import annotations

import multiprocessing
import random
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

from bench.commerce_bench import BLOCK_TXS, MERCHANTS, RUNS, VALIDATORS, BenchChain
from bench.timing import Measurement
from chain.transaction import parse_transaction
from node.workload import Workload, make_world

ACCOUNTS = 1_000_000


def _resident_kib() -> dict[str, int]:
    """This process's resident memory in KiB: in all and at its peak, and
    split into anonymous memory (what the process allocated) and pages of
    files it maps (LevelDB maps its table files: clean pages of the OS's
    file cache, which the kernel drops under memory pressure)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[name] = int(rest.split()[0])
    return fields


def _node(directory: str, time_ms: int, root: bytes | None, pipe: Connection) -> None:
    """The node's side: execute each block sent, answer (seconds, failed codes); "memory" answers _resident_kib()."""
    chain = BenchChain(Path(directory), time_ms, root)
    while True:
        message = pipe.recv()
        if message is None:
            break
        if message == "memory":
            pipe.send(_resident_kib())
            continue
        txs = [parse_transaction(raw) for raw in message]
        pipe.send(chain.execute(txs))
    chain.store.close()


def run() -> list[Measurement]:
    world = make_world(VALIDATORS, ACCOUNTS, MERCHANTS)
    workload = Workload(world, random.Random(ACCOUNTS))
    workload.set_up(orders_to_confirm=int(BLOCK_TXS * 0.15) * (RUNS + 1))
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as scratch:
        genesis_chain = BenchChain.from_genesis(Path(scratch) / "million", world.genesis)
        genesis_chain.store.close()
        ours, theirs = context.Pipe()
        node = context.Process(target=_node, args=(str(Path(scratch) / "million"), genesis_chain.time_ms,
                                                   genesis_chain.root, theirs))
        node.start()
        try:
            def execute(txs: list) -> float:
                ours.send([tx.raw for tx in txs])
                seconds, failed = ours.recv()
                if failed:
                    raise RuntimeError(f"transactions failed: {sorted(set(failed))}")
                return seconds

            for block in workload.history:
                execute(block)
            workload.history.clear()
            execute(workload.mix(BLOCK_TXS))                    # warm up, untimed
            per_tx_us = []
            for _ in range(RUNS):
                block = workload.mix(BLOCK_TXS)
                per_tx_us.append(execute(block) / len(block) * 1e6)
            ours.send("memory")
            memory = ours.recv()
            ours.send(None)
        finally:
            node.join(timeout=60)
            if node.is_alive():
                node.kill()
                node.join()
    return [Measurement(f"mixed workload, {ACCOUNTS:,} accounts (LevelDB)", per_tx_us),
            *(Measurement(f"node {what} after the timed blocks", [memory[field] / 1024], unit="MiB")
              for what, field in (("RSS", "VmRSS"), ("RSS, anonymous", "RssAnon"), ("RSS, mapped files", "RssFile"),
                                  ("peak RSS", "VmHWM")))]
