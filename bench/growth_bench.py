"""A validator's worker as the state grows: CPU a transaction, run after
run, on one chain that each run makes bigger.

Each run is what `shopchain bench load DIR --mix commerce --accounts 800
--txs 16000` adds to a testnet: 800 fresh shoppers and their merchants
funded and set up (node/loadgen.py's ``set_up_load``),
then 16,000 transactions of the commerce mix, here in blocks of
BLOCK_TXS. The node's own ChainApplication on a real LevelDB store builds
each block (executing it and updating the state tree, as a validator
validating it does) and persists it with its certificate. CPU time of
this thread, so a sync write's wait on the disk and the machine's other
tenants do not count. Beside it, the state's keys after the run: the
state tree's paths deepen as log16 of that (docs/benchmarks.md, "Why
latency climbs run after run").
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.timing import Measurement
from commerce.executor import get_nonce
from node.application import ChainApplication
from node.loadgen import set_up_load
from node.workload import commit_certificate, make_world
from storage import keys
from storage.blockstore import open_block_store

SHOPPERS = 800
RUN_TXS = 16_000
BLOCK_TXS = 100
LOAD_RUNS = 15
SHOWN = (1, 5, 11, 15)
CHAINS = 3


def worker_name(run: int) -> str:
    return f"worker CPU a tx, load run {run}"


def keys_name(run: int) -> str:
    return f"state keys after load run {run}"


class _Chain:
    """One validator's application on a new store, committing blocks in order."""

    def __init__(self, directory: Path) -> None:
        self.world = make_world(4, 0)
        self.app = ChainApplication(open_block_store(directory), self.world.genesis)

    def commit(self, blocks: list[list]) -> float:
        """Build and persist ``blocks``: this thread's CPU seconds."""
        store, world = self.app.store, self.world
        spent = 0.0
        for txs in blocks:
            height = store.last_height() + 1
            started = time.thread_time()
            block = self.app.build_block(height, store.last_block_hash(), world.genesis.genesis_time_ms + height * 1000,
                                         world.validator_keys[0].public_key, (), txs)
            built = time.thread_time()
            certificate = commit_certificate(world, block)
            signed = time.thread_time()
            self.app.persist_block(block, certificate, {tx.id: tx for tx in txs}.get)
            spent += (built - started) + (time.thread_time() - signed)
        return spent

    def state_keys(self) -> int:
        return sum(1 for _ in self.app.store.kv.iterate_prefix(keys.STATE))


def one_chain(directory: Path) -> dict[str, float]:
    """µs of worker CPU a transaction of each shown run, and the state's keys after it."""
    chain = _Chain(directory)
    admin, figures = chain.world.admin, {}
    for run in range(1, LOAD_RUNS + 1):
        workload = set_up_load(chain.world.genesis, admin, get_nonce(chain.app.store.state(), admin.public_key) + 1,
                               f"run-{run}", "commerce", SHOPPERS, RUN_TXS, seed=run)
        chain.commit(workload.history)
        load = workload.mix(RUN_TXS)
        spent = chain.commit([load[start:start + BLOCK_TXS] for start in range(0, len(load), BLOCK_TXS)])
        if run in SHOWN:
            figures[worker_name(run)] = spent / RUN_TXS * 1e6
            figures[keys_name(run)] = chain.state_keys()
    chain.app.store.close()
    return figures


def run() -> list[Measurement]:
    chains = []
    for _ in range(CHAINS):
        with tempfile.TemporaryDirectory() as scratch:
            chains.append(one_chain(Path(scratch)))
    return [Measurement(name, [figures[name] for figures in chains], "keys" if name.startswith("state keys") else "us")
            for name in chains[0]]
