"""The commerce workload: a marketplace's participants and genesis, a short
history that sets the marketplace up, and a mix of pre-signed transactions:
40 % ``funds.transfer``, 20 % ``coupon.buy``, 20 % ``order.create``, 10 %
``trace.record``, 10 % ``order.confirm`` of a delivered order (or, for the
transfers-only load, transfers alone).

The simulator (node/sim), the commerce benchmark (bench/commerce_bench.py)
and the load generator (node/loadgen.py) all run it. Keys are derived from
fixed labels and every random choice comes from the caller's seeded
``random.Random``, so every process builds byte-identical validators,
accounts, blocks and transactions for one set of arguments.

The history (blocks of at most the genesis's ``block_txs_max`` transactions)
registers the shoppers, approves the merchants and a carrier, lists a product
and issues a coupon batch per merchant, and takes some orders to delivery, so
that the mix finds what it needs. The shoppers and merchants are funded at
genesis.

Typical use: ``workload = build_workload(make_world(4, 1_000), n, rng)``,
execute ``workload.history``, then ``workload.mix(n)``; or, to provision the
delivered orders apart from the mix's length, ``Workload(world, rng)`` and
``set_up(orders_to_confirm)``.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from chain.block import Block
from chain.constants import PHASE_COMMIT
from chain.genesis import Genesis, genesis_from_document
from chain.keys import KeyPair
from chain.transaction import SignedTransaction, build_transaction
from chain.votes import CommitCertificate, sign_vote
from node.application import ChainApplication
from storage.blockstore import BlockStore
from storage.memory import MemoryStore

CHAIN_ID = "shopchain-sim"
GENESIS_TIME_MS = 1_767_225_600_000
SENDER_BALANCE = 10**12
MERCHANTS = 4
SKU = "tea"
PRICE = 100


def derive_key(label: str) -> KeyPair:
    """The key pair of a fixed label: the same in every process."""
    return KeyPair(hashlib.sha256(b"shopchain-sim/" + label.encode()).digest())


def _digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


@dataclass(frozen=True, slots=True)
class World:
    """Validator keys, genesis and the marketplace's participants."""

    validator_keys: tuple[KeyPair, ...]
    shoppers: tuple[KeyPair, ...]
    merchants: tuple[KeyPair, ...]
    carrier: KeyPair
    admin: KeyPair
    genesis: Genesis


def make_world(validators: int, shoppers: int, merchants: int = MERCHANTS) -> World:
    """``validators`` validators and a marketplace of ``shoppers`` shoppers
    and ``merchants`` merchants, the shoppers, merchants and admin funded at
    genesis (default parameters)."""
    keys = tuple(derive_key(f"validator-{index}") for index in range(validators))
    buyers, sellers, carrier = _participants("", shoppers, merchants)
    admin = derive_key("admin")
    genesis = genesis_from_document({
        "chain_id": CHAIN_ID, "genesis_time_ms": GENESIS_TIME_MS,
        "validators": [key.address for key in keys], "admins": [admin.address],
        "treasury": derive_key("treasury").address,
        "allocations": [{"address": key.address, "amount": SENDER_BALANCE} for key in (admin, *buyers, *sellers)],
    })
    return World(keys, buyers, sellers, carrier, admin, genesis)


def world_on(genesis: Genesis, admin: KeyPair, label: str, shoppers: int, merchants: int = MERCHANTS) -> World:
    """A marketplace on a chain that exists (a running testnet, say): its
    participants' keys derived under ``label``, none funded at genesis (see
    ``Workload.fund``); the validators' keys are not known here."""
    buyers, sellers, carrier = _participants(f"{label}/", shoppers, merchants)
    return World((), buyers, sellers, carrier, admin, genesis)


def _participants(prefix: str, shoppers: int, merchants: int) -> tuple[tuple[KeyPair, ...], tuple[KeyPair, ...], KeyPair]:
    buyers = tuple(derive_key(f"{prefix}shopper-{index}") for index in range(shoppers))
    sellers = tuple(derive_key(f"{prefix}merchant-{index}") for index in range(merchants))
    return buyers, sellers, derive_key(f"{prefix}carrier")


@dataclass
class Workload:
    """Pre-signs the history's and the mix's transactions, tracking each
    sender's nonce; ``history`` holds the transactions of each history block."""

    world: World
    rng: random.Random
    nonces: dict[bytes, int] = field(default_factory=dict)
    history: list[list[SignedTransaction]] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    delivered: list[tuple[KeyPair, str]] = field(default_factory=list)
    lot_serial: int = 0

    def tx(self, key: KeyPair, kind: str, body: dict[str, Any]) -> SignedTransaction:
        nonce = self.nonces.get(key.public_key, 0) + 1
        self.nonces[key.public_key] = nonce
        return build_transaction(key, self.world.genesis.chain_id, nonce, kind, body)

    def fund(self, amount: int = SENDER_BALANCE) -> None:
        """A history block of the admin's mints to the shoppers and merchants,
        for a world whose genesis did not fund them (``world_on``)."""
        self._add_block([self.tx(self.world.admin, "funds.mint", {"to": key.address, "amount": amount})
                         for key in (*self.world.shoppers, *self.world.merchants)])

    def set_up(self, orders_to_confirm: int) -> None:
        """The history's blocks: a marketplace with ``orders_to_confirm`` delivered orders."""
        world = self.world
        if not world.shoppers:
            return
        sellers = (*world.merchants, world.carrier)
        roles = ["merchant"] * len(world.merchants) + ["carrier"]
        self._add_block([self.tx(key, "account.register", {"name": f"member {index}"})
                         for index, key in enumerate((*world.shoppers, *sellers))])
        self._add_block([self.tx(key, "account.request_role", {"role": role, "profile_hash": _digest(role)})
                         for key, role in zip(sellers, roles)])
        self._add_block([self.tx(world.admin, "account.approve", {"account": key.address, "role": role})
                         for key, role in zip(sellers, roles)])
        listings = [self.tx(key, "product.list", {"sku": SKU, "title": SKU, "price": PRICE, "stock": 10**9,
                                                   "category": "food"}) for key in world.merchants]
        coupons = [self.tx(key, "coupon.issue", {
            "brand": "sim", "content": "10 off", "discount": {"kind": "amount", "value": 10}, "price": 5,
            "total": 10**9, "valid_from": GENESIS_TIME_MS, "valid_until": GENESIS_TIME_MS + 10**12,
            "serial_prefix": f"S{index}"}) for index, key in enumerate(world.merchants)]
        self._add_block(listings + coupons)
        self.batches = [tx.id for tx in coupons]
        placed = [(self.rng.choice(world.shoppers), self.rng.randrange(len(world.merchants)))
                  for _ in range(orders_to_confirm)]
        creates = [self.tx(buyer, "order.create", self._order_body(merchant)) for buyer, merchant in placed]
        self._add_block(creates)
        self._add_block([self.tx(world.merchants[merchant], "order.ship",
                                 {"order": tx.id, "carrier": world.carrier.address, "tracking": f"T{index}"})
                         for index, ((_, merchant), tx) in enumerate(zip(placed, creates))])
        self._add_block([self.tx(world.carrier, "trace.record", {
            "subject": tx.id, "stage": "delivery", "location": "door", "handler": "carrier",
            "data_hash": _digest(tx.id)}) for tx in creates])
        self.delivered = [(buyer, tx.id) for (buyer, _), tx in zip(placed, creates)]

    def transfers(self, count: int) -> list[SignedTransaction]:
        """``count`` transfers between random shoppers: the transfers-only mix."""
        rng, shoppers = self.rng, self.world.shoppers
        return [self.tx(rng.choice(shoppers), "funds.transfer", {"to": rng.choice(shoppers).address, "amount": 1})
                for _ in range(count)]

    def mix(self, count: int) -> list[SignedTransaction]:
        """The next ``count`` transactions of the mix, from random shoppers
        (and merchants, for ``trace.record``)."""
        return [self._one() for _ in range(count)] if self.world.shoppers else []

    def _add_block(self, txs: list[SignedTransaction]) -> None:
        """Append ``txs`` to the history as blocks within the genesis's cap (none if empty)."""
        cap = self.world.genesis.params["block_txs_max"]
        self.history += [txs[start:start + cap] for start in range(0, len(txs), cap)]

    def _order_body(self, merchant: int) -> dict[str, Any]:
        return {"merchant": self.world.merchants[merchant].address, "items": [{"sku": SKU, "qty": 1}],
                "shipping_hash": _digest("address")}

    def _one(self) -> SignedTransaction:
        world, rng = self.world, self.rng
        pick, buyer = rng.random(), rng.choice(world.shoppers)
        if pick >= 0.9 and not self.delivered:
            pick -= 0.9   # no delivered order left to confirm: a transfer instead
        if pick < 0.4:
            return self.tx(buyer, "funds.transfer", {"to": rng.choice(world.shoppers).address, "amount": 1 + rng.randrange(7)})
        if pick < 0.6:
            return self.tx(buyer, "coupon.buy", {"batch": rng.choice(self.batches)})
        if pick < 0.8:
            return self.tx(buyer, "order.create", self._order_body(rng.randrange(len(world.merchants))))
        if pick < 0.9:
            self.lot_serial += 1
            merchant = world.merchants[rng.randrange(len(world.merchants))]
            subject = f"{merchant.address}/{SKU}/lot{self.lot_serial % 50}"
            return self.tx(merchant, "trace.record", {"subject": subject, "stage": "warehousing", "location": "w",
                                                      "handler": "h", "data_hash": _digest(subject)})
        owner, order = self.delivered.pop()
        return self.tx(owner, "order.confirm", {"order": order})


def build_workload(world: World, count: int, rng: random.Random) -> Workload:
    """A workload of ``count`` mixed transactions after a history with enough
    delivered orders for the mix's confirmations."""
    workload = Workload(world, rng)
    workload.set_up(orders_to_confirm=count // 10 + 1)
    return workload


def commit_certificate(world: World, block: Block) -> CommitCertificate:
    """Every validator of ``world`` signs COMMIT for ``block`` in view 0."""
    height, block_hash = block.header.height, block.hash()
    return CommitCertificate.from_votes(
        [sign_vote(key, world.genesis.chain_id, PHASE_COMMIT, height, 0, block_hash) for key in world.validator_keys],
        world.genesis.validators)


def certify_history(world: World, history: list[list[SignedTransaction]]) -> list[tuple[Block, CommitCertificate]]:
    """Execute the history's blocks with the real application and have every
    validator sign the commit certificate of each."""
    app = ChainApplication(BlockStore(MemoryStore()), world.genesis)
    certified = []
    for height, txs in enumerate(history, start=1):
        store = app.store
        block = app.build_block(height, store.last_block_hash(), world.genesis.genesis_time_ms + height,
                                world.validator_keys[0].public_key, (), txs)
        certificate = commit_certificate(world, block)
        committed = app.persist_block(block, certificate)
        failed = [result.code for result in committed.execution.results if not result.ok]
        if failed:
            raise RuntimeError(f"the history failed at height {height}: {sorted(set(failed))}")
        certified.append((block, certificate))
    return certified
