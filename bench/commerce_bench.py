"""Executed transactions per second of the commerce state machine on one core.

The mixed workload of node/workload.py: 40 % funds.transfer, 20 % coupon.buy,
20 % order.create, 10 % trace.record, 10 % order.confirm, from 1,000 and
from 100,000 registered, funded shoppers, with 10 merchants, against a
LevelDB-backed state. Transactions are signed before timing starts
(signatures excluded); each timed run executes one block of BLOCK_TXS
transactions with ``execute_block`` and computes its state root (the state
tree's update, reading the tree's nodes from the same LevelDB); the
block's write-set and tree nodes are then committed untimed, so every run
reads the state the previous ones wrote. The
store is the node's (storage.leveldb.LevelDBStore, read cache included); a
third figure turns that cache off.
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.timing import Measurement
from chain.genesis import Genesis
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, TreeUpdate, key_path, state_changes
from chain.transaction import SignedTransaction
from chain.tree_cache import CachedNodes
from commerce.executor import execute_block
from commerce.genesis_state import compute_genesis_tree, compute_genesis_write_set
from node.bound import apply_write_set
from node.workload import Workload, make_world
from storage.keys import TREE_NODE
from storage.leveldb import READ_CACHE_ENTRIES, LevelDBStore

BLOCK_TXS = 2_000
RUNS = 7
MERCHANTS = 10
VALIDATORS = 4


class BenchChain:
    """A LevelDB-backed chain from ``genesis``, driven block by block."""

    def __init__(self, directory: Path, time_ms: int, root: bytes | None, read_cache_entries: int = READ_CACHE_ENTRIES) -> None:
        """The chain in ``directory`` at version 0, whose tree's root is ``root``."""
        self.store = LevelDBStore(directory, read_cache_entries, uncached=TREE_NODE)
        self.nodes = CachedNodes(self)
        self.tree = StateTree(self.nodes, STATE_TREE_RADIX_BITS)
        self.root = root
        self.time_ms = time_ms
        self.version = 0
        self.root_seconds = 0.0     # of the last block's time, the part that computed its state root

    @classmethod
    def from_genesis(cls, directory: Path, genesis: Genesis, read_cache_entries: int = READ_CACHE_ENTRIES) -> "BenchChain":
        """A new chain in ``directory``: ``genesis``'s state and tree written."""
        genesis_tree = compute_genesis_tree(genesis)
        chain = cls(directory, genesis.genesis_time_ms, genesis_tree.root, read_cache_entries)
        chain._commit(compute_genesis_write_set(genesis), genesis_tree)
        return chain

    def get_node(self, key: bytes) -> bytes | None:
        """State tree nodes live beside the state, as in the node's store."""
        return self.store.get(TREE_NODE + key)

    def execute(self, txs: list[SignedTransaction]) -> tuple[float, list[str]]:
        """Execute one block and compute its state root (timed), then commit
        the write-set and the tree's nodes (untimed); (seconds, failed codes)."""
        self.time_ms += 1000
        self.version += 1
        start = time.perf_counter()
        execution = execute_block(self.store, self.time_ms, txs)
        executed = time.perf_counter()
        previous = {key_path(key): self.store.get(key) for key in execution.write_set}   # as the node does
        update = self.tree.update(self.root, state_changes(execution.write_set), self.version, previous)
        elapsed = time.perf_counter() - start
        self.root_seconds = elapsed - (executed - start)
        self._commit(execution.write_set, update)
        self.root = update.root
        return elapsed, [result.code for result in execution.results if not result.ok]

    def _commit(self, write_set: dict[bytes, bytes | None], update: TreeUpdate) -> None:
        apply_write_set(self.store, write_set)
        with self.store.write_batch() as batch:
            for key, raw in update.nodes.items():
                batch.put(TREE_NODE + key, raw)
        self.nodes.written(update)


class Setting:
    """One state to measure: a chain set up with its workload's history, ready for timed blocks."""

    def __init__(self, directory: Path, accounts: int, read_cache_entries: int = READ_CACHE_ENTRIES) -> None:
        world = make_world(VALIDATORS, accounts, MERCHANTS)
        self.workload = Workload(world, random.Random(accounts))
        # Delivered orders for 15 % of every block, the warm-up's included:
        # the mix's 10 % never runs out of orders to confirm.
        self.workload.set_up(orders_to_confirm=int(BLOCK_TXS * 0.15) * (RUNS + 1))
        self.chain = BenchChain.from_genesis(directory, world.genesis, read_cache_entries)
        for block in self.workload.history:
            _, failed = self.chain.execute(block)
            if failed:
                raise RuntimeError(f"set-up transactions failed: {sorted(set(failed))}")
        self.chain.store.compact()  # measure a settled database, not the bulk load's pending compactions
        cache = "" if read_cache_entries else ", read cache off"
        self.name = f"mixed workload, {accounts:,} accounts (LevelDB{cache})"
        self.per_tx_us: list[float] = []
        self.root_us: list[float] = []      # of each per_tx_us, the state root's part

    def timed_block(self) -> None:
        block = self.workload.mix(BLOCK_TXS)
        seconds, failed = self.chain.execute(block)
        if failed:
            raise RuntimeError(f"workload transactions failed: {sorted(set(failed))}")
        self.per_tx_us.append(seconds / len(block) * 1e6)
        self.root_us.append(self.chain.root_seconds / len(block) * 1e6)


def run() -> list[Measurement]:
    """The two figures of the target (the node's store, read cache included),
    then 100,000 accounts on LevelDB alone, to show what the cache buys, and
    of the 100,000 accounts' time the state root's part (reading the values
    before the block and the tree's update). The settings take turns block
    by block, so a drift of the machine's speed falls on all of them alike."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = [Setting(Path(scratch) / "small", 1_000), Setting(Path(scratch) / "large", 100_000),
                    Setting(Path(scratch) / "uncached", 100_000, read_cache_entries=0)]
        for setting in settings:
            setting.chain.execute(setting.workload.mix(BLOCK_TXS))  # warm up, untimed
        for _ in range(RUNS):
            for setting in settings:
                setting.timed_block()
        for setting in settings:
            setting.chain.store.close()
    return [*(Measurement(setting.name, setting.per_tx_us) for setting in settings),
            Measurement("of which the state root, 100,000 accounts", settings[1].root_us)]
