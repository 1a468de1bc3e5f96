"""A tiny chain for commerce tests: genesis on a MemoryStore, blocks applied in order."""
from __future__ import annotations

import hashlib
from typing import Any

from chain.genesis import genesis_from_document
from chain.keys import KeyPair
from chain.transaction import SignedTransaction, build_transaction
from commerce.executor import BlockExecution, execute_block, get_nonce
from chain.state_tree import MemoryStateTree
from commerce.genesis_state import compute_genesis_write_set
from storage.memory import MemoryStore

CHAIN_ID = "shopchain-test"
GENESIS_TIME_MS = 1_767_225_600_000
DAY_MS = 24 * 3600 * 1000


def make_key(name: str) -> KeyPair:
    return KeyPair(hashlib.sha256(name.encode()).digest())


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class Chain:
    def __init__(self, params: dict[str, Any] | None = None, validators: int = 2, store: Any = None) -> None:
        self.admin, self.treasury = make_key("admin"), make_key("treasury")
        self.validators = [make_key(f"validator-{index}") for index in range(validators)]
        document = {
            "chain_id": CHAIN_ID, "genesis_time_ms": GENESIS_TIME_MS,
            "validators": [key.address for key in self.validators], "admins": [self.admin.address],
            "treasury": self.treasury.address, "allocations": [{"address": self.admin.address, "amount": 10**12}],
            "params": params or {},
        }
        self.genesis = genesis_from_document(document)
        self.store = store if store is not None else MemoryStore()
        genesis_writes = compute_genesis_write_set(self.genesis)
        self._apply(genesis_writes)
        self.tree = MemoryStateTree()
        self.root = self.tree.commit(genesis_writes)
        self.time_ms = GENESIS_TIME_MS
        self.log: list[tuple[list[SignedTransaction], int]] = []

    def _apply(self, write_set: dict[bytes, bytes | None]) -> None:
        with self.store.write_batch() as batch:
            for key in sorted(write_set):
                if write_set[key] is None:
                    batch.delete(key)
                else:
                    batch.put(key, write_set[key])

    def tx(self, key: KeyPair, kind: str, body: dict[str, Any], nonce: int | None = None) -> SignedTransaction:
        if nonce is None:
            nonce = get_nonce(self.store, key.public_key) + 1
        return build_transaction(key, CHAIN_ID, nonce, kind, body)

    def block(self, txs: list[SignedTransaction], advance_ms: int = 1000) -> BlockExecution:
        self.time_ms += advance_ms
        return self.replay(txs, self.time_ms)

    def replay(self, txs: list[SignedTransaction], time_ms: int) -> BlockExecution:
        """Execute and apply a block at ``time_ms``, logging it so a twin can replay the same."""
        self.time_ms = time_ms
        self.log.append((txs, time_ms))
        execution = execute_block(self.store, time_ms, txs)
        self._apply(execution.write_set)
        self.root = self.tree.commit(execution.write_set)
        return execution

    def run(self, key: KeyPair, kind: str, body: dict[str, Any], advance_ms: int = 1000):
        """Execute one transaction in its own block; returns (result, its tx)."""
        tx = self.tx(key, kind, body)
        return self.block([tx], advance_ms).results[0], tx

    def ok(self, key: KeyPair, kind: str, body: dict[str, Any], advance_ms: int = 1000) -> SignedTransaction:
        result, tx = self.run(key, kind, body, advance_ms)
        assert result.ok, (kind, result.code, result.message)
        return tx

    def fails(self, key: KeyPair, kind: str, body: dict[str, Any], code: str) -> None:
        result, _ = self.run(key, kind, body)
        assert (result.ok, result.code) == (False, code), result

    def register(self, name: str, *roles: str, referrer: str | None = None) -> KeyPair:
        key = make_key(name)
        body: dict[str, Any] = {"name": name}
        if referrer:
            body["referrer"] = referrer
        self.ok(key, "account.register", body)
        for role in roles:
            self.ok(key, "account.request_role", {"role": role, "profile_hash": digest(name)})
            self.ok(self.admin, "account.approve", {"account": key.address, "role": role})
        return key

    def fund(self, key: KeyPair, amount: int) -> None:
        self.ok(self.admin, "funds.mint", {"to": key.address, "amount": amount})

    def list_product(self, merchant: KeyPair, sku: str = "tea", price: int = 10_000, stock: int = 10) -> None:
        self.ok(merchant, "product.list", {"sku": sku, "title": sku, "price": price, "stock": stock, "category": "food"})

    def order(self, buyer: KeyPair, merchant: KeyPair, qty: int = 1, sku: str = "tea", **extra: Any) -> str:
        body = {"merchant": merchant.address, "items": [{"sku": sku, "qty": qty}], "shipping_hash": digest("addr"), **extra}
        return self.ok(buyer, "order.create", body).id
