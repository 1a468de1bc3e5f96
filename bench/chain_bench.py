"""Micro-benchmarks of the ledger primitives.

A typical transaction is an order.create with two items, a coupon and a
shipping hash: 370 bytes signed. Beside them, what a mempool at its cap
spends refusing one (node/mempool.py).
"""
from __future__ import annotations

import hashlib
from typing import Callable

import nacl.signing

from bench.timing import Measurement, measure
from chain.encoding import pack
from chain.keys import KeyPair
from chain.merkle import merkle_root
from chain.transaction import TransactionDecoder, build_transaction, decode_transaction, parse_transaction
from node.errors import RequestRejected
from node.mempool import Mempool, MempoolLimits

CHAIN_ID = "shopchain-bench"


def typical_transaction(key: KeyPair, nonce: int = 1):
    body = {
        "merchant": hashlib.sha256(b"merchant").hexdigest(),
        "items": [{"sku": "tea-001", "qty": 2}, {"sku": "cup", "qty": 1}],
        "coupon": hashlib.sha256(b"batch").hexdigest() + "/7",
        "shipping_hash": hashlib.sha256(b"address").digest(),
    }
    return build_transaction(key, CHAIN_ID, nonce, "order.create", body)


def _refuse_at_full_mempool(key: KeyPair) -> Callable[[], None]:
    """A call that offers ``typical_transaction`` to a mempool already at its
    count cap, through the same door as RPC and gossip (``add_raw``)."""
    pool = Mempool(MempoolLimits(txs_max=1), lambda sender: 0, lambda: 64 * 1024, TransactionDecoder(CHAIN_ID))
    pool.add_raw(typical_transaction(KeyPair(hashlib.sha256(b"first in").digest())).raw)
    raw = typical_transaction(key).raw

    def offer() -> None:
        try:
            pool.add_raw(raw)
        except RequestRejected as refused:
            assert refused.code == "mempool.full", refused.code
    return offer


def run() -> list[Measurement]:
    key = KeyPair(hashlib.sha256(b"bench key").digest())
    tx = typical_transaction(key)
    fields = [1, tx.chain_id, tx.sender, tx.nonce, tx.kind, tx.body, tx.signature]
    verify_key = nacl.signing.VerifyKey(tx.sender)
    signing_bytes = tx.signing_bytes
    leaves_1k = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000)]
    leaves_10k = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(10_000)]
    return [
        measure(f"tx encode ({len(tx.raw)} B)", lambda: pack(fields), 20_000),
        measure("tx decode (strict, no signature)", lambda: parse_transaction(tx.raw), 20_000),
        measure("tx sign", lambda: key.sign(signing_bytes), 3_000),
        measure("PyNaCl bare verify", lambda: verify_key.verify(signing_bytes, tx.signature), 3_000),
        measure("tx decode + verify", lambda: decode_transaction(tx.raw, CHAIN_ID), 3_000),
        measure("refusal by a full mempool", _refuse_at_full_mempool(key), 20_000),
        measure("merkle root 1,000 leaves", lambda: merkle_root(leaves_1k), 200),
        measure("merkle root 10,000 leaves", lambda: merkle_root(leaves_10k), 20),
    ]
