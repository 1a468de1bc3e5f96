"""What one machine can commit at best: the work no node can skip per
transaction, measured here and now. Each validator checks the transaction's
signature once and executes it once (the state root included), so with
``validators`` validators on ``cores`` cores the bound is
cores / (validators × (t_verify + t_exec)) transactions per second
(docs/benchmarks.md). The simulator's own figure uses the same two times.
The load generator measures it before and after its load and uses the mean
of the two, as this machine's speed moves within minutes.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Mapping

from chain.kv import KeyValueStore
from chain.state_tree import MemoryStateTree
from chain.transaction import SignedTransaction, verify_transaction
from commerce.executor import execute_block
from commerce.genesis_state import compute_genesis_write_set
from node.workload import Workload, build_workload, make_world
from storage.memory import MemoryStore

# Transactions timed for the bound, and the block size they are executed in.
SAMPLE_TXS = 4_000
SAMPLE_BLOCK_TXS = 500


def apply_write_set(store: KeyValueStore, write_set: Mapping[bytes, bytes | None]) -> None:
    """Commit a block's write-set to ``store`` (untimed, outside execute_block)."""
    with store.write_batch() as batch:
        for key in sorted(write_set):
            value = write_set[key]
            batch.delete(key) if value is None else batch.put(key, value)


def executor_rate(workload: Workload, txs: list[SignedTransaction], block_size: int) -> float:
    """The executor's own in-memory rate, the state root included:
    execute_block over a MemoryStore and the state tree's update, the
    history's blocks untimed, then ``txs`` in blocks of ``block_size``, each
    block's write set committed untimed."""
    genesis = workload.world.genesis
    store, tree = MemoryStore(), MemoryStateTree()
    genesis_writes = compute_genesis_write_set(genesis)
    apply_write_set(store, genesis_writes)
    tree.commit(genesis_writes)
    time_ms, executing_s = genesis.genesis_time_ms, 0.0
    blocks = workload.history + [txs[start:start + block_size] for start in range(0, len(txs), block_size)]
    for index, block in enumerate(blocks):
        time_ms += 100
        began = time.perf_counter()
        execution = execute_block(store, time_ms, block)
        tree.commit(execution.write_set)
        if index >= len(workload.history):
            executing_s += time.perf_counter() - began
        apply_write_set(store, execution.write_set)
    return len(txs) / executing_s


def verify_seconds(txs: list[SignedTransaction]) -> float:
    """Seconds per transaction to check its signature once."""
    began = time.perf_counter()
    for tx in txs:
        verify_transaction(tx)
    return (time.perf_counter() - began) / len(txs)


@dataclass(frozen=True, slots=True)
class Bound:
    mix: str
    cores: int
    validators: int
    exec_us: float
    verify_us: float

    @property
    def tx_per_s(self) -> float:
        return self.cores / (self.validators * (self.exec_us + self.verify_us) / 1e6)

    def averaged_with(self, other: "Bound") -> "Bound":
        """The bound of the two measurements' mean times: on a shared machine
        whose speed drifts, one taken before a run and one after frame it."""
        return Bound(self.mix, self.cores, self.validators, round((self.exec_us + other.exec_us) / 2, 1),
                     round((self.verify_us + other.verify_us) / 2, 1))


def measure_bound(mix: str, validators: int, shoppers: int, sample: int = SAMPLE_TXS) -> Bound:
    """The bound of ``mix`` ("transfer" or "commerce") for ``validators``
    validators on this machine's cores, timing ``sample`` transactions of
    that mix from ``shoppers`` shoppers."""
    workload = build_workload(make_world(validators, shoppers), sample, random.Random(1))
    txs = workload.transfers(sample) if mix == "transfer" else workload.mix(sample)
    exec_s = 1 / executor_rate(workload, txs, SAMPLE_BLOCK_TXS)
    return Bound(mix, os.cpu_count() or 1, validators, round(exec_s * 1e6, 1), round(verify_seconds(txs) * 1e6, 1))
