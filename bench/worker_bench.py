"""A validator's worker thread, per committed transaction: CPU time to build
a block (the primary), to validate it (the others) and to persist it.

The node's own ChainApplication on two real LevelDB stores (the node's
layout, read and tree caches included), the commerce mix of
node/workload.py from 1,000 shoppers in blocks of BLOCK_TXS: one store
builds each block, the other validates it, then both persist it with its
certificate. BLOCKS runs past the proof window, so persisting includes
pruning. CPU time of this thread (``time.thread_time``), not wall time: the
machine's other tenants and a sync write's wait on the disk do not count,
so the figures compare across runs on a shared machine. Each run is one
chain; the medians are of RUNS chains. Each run also measures the bound's
two times (node/bound.py: one signature check, one in-memory execution of
the mix with its state root; wall time, as the load generator's bound
takes them), so `make bench` can set what a validator's worker spends
beside what 0.5 of the bound lets a validator spend in all. And the bytes
a transaction has the validator's LevelDB write (keys and values of its
batches), which its flushes and merges then rewrite.
"""
from __future__ import annotations

import random
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench.timing import Measurement
from node.application import ChainApplication
from node.bound import measure_bound
from node.workload import Workload, commit_certificate, make_world
from storage.blockstore import PROOF_WINDOW_BLOCKS, open_block_store

BLOCK_TXS = 150
BLOCKS = PROOF_WINDOW_BLOCKS + 50
SHOPPERS = 1_000
RUNS = 3
PHASES = ("build", "validate", "persist")
WRITTEN = "LevelDB bytes written a tx"


def one_chain(directory: Path) -> dict[str, float]:
    """µs of CPU a transaction in each phase, over the mix's blocks of one new chain."""
    world = make_world(4, SHOPPERS)
    workload = Workload(world, random.Random(1))
    workload.set_up(orders_to_confirm=BLOCK_TXS * BLOCKS // 10 + 100)
    history = len(workload.history)
    blocks = workload.history + [workload.mix(BLOCK_TXS) for _ in range(BLOCKS)]
    primary = ChainApplication(open_block_store(directory / "primary"), world.genesis)
    validator = ChainApplication(open_block_store(directory / "validator"), world.genesis)
    written = _count_written_bytes(validator.store.kv)
    genesis = world.genesis
    spent = dict.fromkeys(PHASES, 0.0)
    written_before = 0
    for height, txs in enumerate(blocks, start=1):
        known = {tx.id: tx for tx in txs}.get
        started = time.thread_time()
        block = primary.build_block(height, primary.store.last_block_hash(), genesis.genesis_time_ms + height * 1000,
                                    world.validator_keys[0].public_key, (), txs)
        built = time.thread_time()
        if not validator.validate_block(block, known):
            raise RuntimeError(f"block {height} does not validate")
        validated = time.thread_time()
        certificate = commit_certificate(world, block)
        signed = time.thread_time()
        for app in (primary, validator):
            app.persist_block(block, certificate, known)
        persisted = time.thread_time()
        if height == history:
            written_before = written[0]
        if height > history:
            spent["build"] += built - started
            spent["validate"] += validated - built
            spent["persist"] += (persisted - signed) / 2
    for app in (primary, validator):
        app.store.close()
    figures = {f"worker CPU a tx: {phase}": seconds / (BLOCK_TXS * BLOCKS) * 1e6 for phase, seconds in spent.items()}
    return figures | {WRITTEN: (written[0] - written_before) / (BLOCK_TXS * BLOCKS)}


def _count_written_bytes(kv) -> list[int]:
    """A running count of the key and value bytes of every batch ``kv`` applies (a delete counts its key)."""
    written = [0]
    write_batch = kv.write_batch

    @contextmanager
    def counting(sync: bool = False):
        with write_batch(sync) as batch:
            yield batch
            written[0] += sum(len(key) + len(value or b"") for key, value in batch.writes.items())

    kv.write_batch = counting
    return written


def run() -> list[Measurement]:
    runs = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as scratch:
            figures = one_chain(Path(scratch))
        bound = measure_bound("commerce", 4, SHOPPERS)
        runs.append(figures | {"bound: t_verify": bound.verify_us, "bound: t_exec": bound.exec_us})
    return [Measurement(name, [figures[name] for figures in runs], "bytes" if name == WRITTEN else "us") for name in runs[0]]
