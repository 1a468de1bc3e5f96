"""Executed transactions per second of the commerce state machine on one core.

The mixed workload: 40 % funds.transfer, 20 % coupon.buy,
20 % order.create, 10 % trace.record, 10 % order.confirm, against a
LevelDB-backed state of 1,000 and of 100,000 registered, funded consumers.
Transactions are signed before timing starts (signatures excluded); each
timed run executes one block of BLOCK_TXS transactions with
``execute_block`` and the block's write-set is then committed untimed, so
every run reads the state the previous ones wrote. The store is the node's
(storage.leveldb.LevelDBStore, read cache included); a third figure turns
that cache off.
"""
from __future__ import annotations

import hashlib
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from bench.timing import Measurement
from chain.genesis import genesis_from_document
from chain.keys import KeyPair
from chain.kv import KeyValueStore
from chain.transaction import SignedTransaction, build_transaction
from commerce.executor import execute_block
from commerce.genesis_state import compute_genesis_state_root, compute_genesis_write_set
from storage.leveldb import READ_CACHE_ENTRIES, LevelDBStore

CHAIN_ID = "shopchain-bench"
BLOCK_TXS = 2_000
RUNS = 7
MERCHANTS = 10
SETUP_BLOCK_TXS = 5_000
GENESIS_TIME_MS = 1_767_225_600_000


def _key(label: str) -> KeyPair:
    return KeyPair(hashlib.sha256(label.encode()).digest())


def _digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def apply_write_set(store: KeyValueStore, write_set: Mapping[bytes, bytes | None]) -> None:
    """Commit a block's write-set to ``store`` (untimed, outside execute_block)."""
    with store.write_batch() as batch:
        for key in sorted(write_set):
            value = write_set[key]
            batch.delete(key) if value is None else batch.put(key, value)


class BenchChain:
    """A LevelDB-backed chain driven block by block, tracking nonces locally."""

    def __init__(self, directory: Path, read_cache_entries: int = READ_CACHE_ENTRIES) -> None:
        self.admin, self.carrier = _key("bench admin"), _key("bench carrier")
        validators = [_key(f"bench validator {i}") for i in range(4)]
        genesis = genesis_from_document({
            "chain_id": CHAIN_ID, "genesis_time_ms": GENESIS_TIME_MS,
            "validators": [key.address for key in validators], "admins": [self.admin.address],
            "treasury": _key("bench treasury").address, "allocations": [{"address": self.admin.address, "amount": 10**15}],
            "params": {"block_txs_max": 10_000, "timed_steps_per_block_max": 10_000},
        })
        self.store = LevelDBStore(directory, read_cache_entries)
        apply_write_set(self.store, compute_genesis_write_set(genesis))
        self.root = compute_genesis_state_root(genesis)
        self.time_ms = GENESIS_TIME_MS
        self.nonces: dict[bytes, int] = {}

    def tx(self, key: KeyPair, kind: str, body: dict[str, Any]) -> SignedTransaction:
        nonce = self.nonces.get(key.public_key, 0) + 1
        self.nonces[key.public_key] = nonce
        return build_transaction(key, CHAIN_ID, nonce, kind, body)

    def execute(self, txs: list[SignedTransaction]) -> tuple[float, list[str]]:
        """Execute one block (timed) and commit it (untimed); (seconds, failed codes)."""
        self.time_ms += 1000
        start = time.perf_counter()
        execution = execute_block(self.store, self.time_ms, txs, self.root)
        elapsed = time.perf_counter() - start
        apply_write_set(self.store, execution.write_set)
        self.root = execution.state_root
        return elapsed, [result.code for result in execution.results if not result.ok]

    def run_all(self, txs: list[SignedTransaction]) -> None:
        for start in range(0, len(txs), SETUP_BLOCK_TXS):
            _, failed = self.execute(txs[start:start + SETUP_BLOCK_TXS])
            if failed:
                raise RuntimeError(f"setup transactions failed: {sorted(set(failed))}")



class Workload:
    """Sets up accounts, merchants, coupons and delivered orders, then yields
    blocks of the mixed workload."""

    def __init__(self, chain: BenchChain, accounts: int, rng: random.Random) -> None:
        self.chain, self.rng = chain, rng
        self.consumers = [_key(f"bench consumer {i}") for i in range(accounts)]
        self.merchants = [_key(f"bench merchant {i}") for i in range(MERCHANTS)]
        self.batches: list[str] = []
        self.delivered: list[tuple[KeyPair, str]] = []
        self.lot_serial = 0

    def set_up(self, confirms_needed: int) -> None:
        chain = self.chain
        chain.run_all([chain.tx(key, "account.register", {"name": f"c{i}"}) for i, key in enumerate(self.consumers)]
                      + [chain.tx(key, "account.register", {"name": f"m{i}"}) for i, key in enumerate(self.merchants)]
                      + [chain.tx(self.carrier_key, "account.register", {"name": "carrier"})])
        chain.run_all([chain.tx(key, "account.request_role", {"role": "merchant", "profile_hash": _digest("m")}) for key in self.merchants]
                      + [chain.tx(self.carrier_key, "account.request_role", {"role": "carrier", "profile_hash": _digest("c")})])
        chain.run_all([chain.tx(chain.admin, "account.approve", {"account": key.address, "role": "merchant"}) for key in self.merchants]
                      + [chain.tx(chain.admin, "account.approve", {"account": chain.carrier.address, "role": "carrier"})]
                      + [chain.tx(chain.admin, "funds.mint", {"to": key.address, "amount": 10**9}) for key in self.consumers])
        listings = [chain.tx(key, "product.list", {"sku": "tea", "title": "tea", "price": 100, "stock": 10**9, "category": "food"})
                    for key in self.merchants]
        coupons = [chain.tx(key, "coupon.issue", {
            "brand": "bench", "content": "10 off", "discount": {"kind": "amount", "value": 10}, "price": 5, "total": 10**9,
            "valid_from": GENESIS_TIME_MS, "valid_until": GENESIS_TIME_MS + 10**12, "serial_prefix": f"B{i}"})
            for i, key in enumerate(self.merchants)]
        chain.run_all(listings + coupons)
        self.batches = [tx.id for tx in coupons]
        self._deliver_orders(confirms_needed)

    @property
    def carrier_key(self) -> KeyPair:
        return self.chain.carrier

    def _deliver_orders(self, count: int) -> None:
        chain = self.chain
        placed = [(self.rng.choice(self.consumers), self.rng.randrange(MERCHANTS)) for _ in range(count)]
        creates = [chain.tx(buyer, "order.create", self._order_body(merchant)) for buyer, merchant in placed]
        chain.run_all(creates)
        chain.run_all([chain.tx(self.merchants[merchant], "order.ship", {"order": tx.id, "carrier": chain.carrier.address, "tracking": "T"})
                       for (_, merchant), tx in zip(placed, creates)])
        chain.run_all([chain.tx(chain.carrier, "trace.record", {"subject": tx.id, "stage": "delivery", "location": "door",
                                                               "handler": "carrier", "data_hash": _digest(tx.id)}) for tx in creates])
        self.delivered = [(buyer, tx.id) for (buyer, _), tx in zip(placed, creates)]

    def _order_body(self, merchant: int) -> dict[str, Any]:
        return {"merchant": self.merchants[merchant].address, "items": [{"sku": "tea", "qty": 1}], "shipping_hash": _digest("address")}

    def blocks(self) -> Iterator[list[SignedTransaction]]:
        while True:
            yield [self._one() for _ in range(BLOCK_TXS)]

    def _one(self) -> SignedTransaction:
        chain, pick = self.chain, self.rng.random()
        buyer = self.rng.choice(self.consumers)
        if pick < 0.4:
            return chain.tx(buyer, "funds.transfer", {"to": self.rng.choice(self.consumers).address, "amount": 1})
        if pick < 0.6:
            return chain.tx(buyer, "coupon.buy", {"batch": self.rng.choice(self.batches)})
        if pick < 0.8:
            return chain.tx(buyer, "order.create", self._order_body(self.rng.randrange(MERCHANTS)))
        if pick < 0.9:
            self.lot_serial += 1
            merchant = self.rng.randrange(MERCHANTS)
            subject = f"{self.merchants[merchant].address}/tea/lot{self.lot_serial % 50}"
            return chain.tx(self.merchants[merchant], "trace.record", {"subject": subject, "stage": "delivery", "location": "w",
                                                                     "handler": "h", "data_hash": _digest(subject)})
        owner, order = self.delivered.pop()
        return chain.tx(owner, "order.confirm", {"order": order})


class Setting:
    """One state to measure: a chain set up with its workload, ready for timed blocks."""

    def __init__(self, directory: Path, accounts: int, read_cache_entries: int = READ_CACHE_ENTRIES) -> None:
        self.chain = BenchChain(directory, read_cache_entries)
        workload = Workload(self.chain, accounts, random.Random(accounts))
        workload.set_up(confirms_needed=int(BLOCK_TXS * 0.15) * (RUNS + 1))
        self.chain.store.compact()  # measure a settled database, not the bulk load's pending compactions
        self.blocks = workload.blocks()
        cache = "" if read_cache_entries else ", read cache off"
        self.name = f"mixed workload, {accounts:,} accounts (LevelDB{cache})"
        self.per_tx_us: list[float] = []

    def timed_block(self) -> None:
        block = next(self.blocks)
        seconds, failed = self.chain.execute(block)
        if failed:
            raise RuntimeError(f"workload transactions failed: {sorted(set(failed))}")
        self.per_tx_us.append(seconds / len(block) * 1e6)


def run() -> list[Measurement]:
    """The two figures of the target (the node's store, read cache included),
    then 100,000 accounts on LevelDB alone, to show what the cache buys. The
    settings take turns block by block, so a drift of the machine's speed
    falls on all of them alike."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = [Setting(Path(scratch) / "small", 1_000), Setting(Path(scratch) / "large", 100_000),
                    Setting(Path(scratch) / "uncached", 100_000, read_cache_entries=0)]
        for setting in settings:
            setting.chain.execute(next(setting.blocks))  # warm up, untimed
        for _ in range(RUNS):
            for setting in settings:
                setting.timed_block()
        for setting in settings:
            setting.chain.store.close()
    return [Measurement(setting.name, setting.per_tx_us) for setting in settings]
