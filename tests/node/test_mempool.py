"""The mempool: caps, dedupe, nonce rules, reaping order, commits."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from chain.keys import KeyPair, verify_signature
from chain.transaction import TransactionDecoder, build_transaction
from commerce.executor import get_nonce
from node.admission import check_admission
from node.application import ChainApplication
from node.errors import RequestRejected
from node.mempool import Mempool, MempoolLimits
from storage.blockstore import BlockStore
from storage.memory import MemoryStore
from tests.node.test_core import GENESIS

CHAIN = "shopchain-mempool"


def account(name: str) -> KeyPair:
    return KeyPair(hashlib.sha256(name.encode()).digest())


ALICE, BOB = account("alice"), account("bob")


def tx(key: KeyPair, nonce: int, note: str = "", chain_id: str = CHAIN):
    return build_transaction(key, chain_id, nonce, "funds.transfer", {"to": BOB.address, "amount": 1, "memo": note})


class Ledger:
    """Committed nonces, as the state would answer them."""

    def __init__(self):
        self.nonces: dict[bytes, int] = {}

    def committed_nonce(self, sender: bytes) -> int:
        return self.nonces.get(sender, 0)


def make_pool(verifier=verify_signature, **limits):
    ledger = Ledger()
    return Mempool(MempoolLimits(**limits), ledger.committed_nonce, lambda: 64 * 1024, TransactionDecoder(CHAIN, verifier)), ledger


def rejected_code(call) -> str:
    with pytest.raises(RequestRejected) as error:
        call()
    return error.value.code


def test_admits_verified_transactions_and_refuses_duplicates():
    pool, _ = make_pool()
    first = tx(ALICE, 1)
    assert pool.add_raw(first.raw).id == first.id
    assert first.id in pool and len(pool) == 1 and pool.size_bytes == len(first.raw)
    assert rejected_code(lambda: pool.add_raw(first.raw)) == "tx.duplicate"


@pytest.mark.parametrize("mutate, code", [
    (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "tx.bad_signature"),
    (lambda raw: raw + b"\x00", "tx.malformed"),
    (lambda raw: tx(ALICE, 1, chain_id="other").raw, "tx.wrong_chain"),
])
def test_refuses_bad_envelopes_with_their_codes(mutate, code):
    pool, _ = make_pool()
    assert rejected_code(lambda: pool.add_raw(mutate(tx(ALICE, 1).raw))) == code
    assert len(pool) == 0


def test_signatures_are_checked_by_the_pools_verifier():
    checks = []

    def verifier(public_key, message, signature):
        checks.append((public_key, message, signature))
        return verify_signature(public_key, message, signature)

    pool, _ = make_pool(verifier)
    first = tx(ALICE, 1)
    pool.add_raw(first.raw)
    assert checks == [(first.sender, first.signing_bytes, first.signature)]


def test_nonce_rules():
    pool, ledger = make_pool(nonce_gap_max=3)
    ledger.nonces[ALICE.public_key] = 5
    assert rejected_code(lambda: pool.add(tx(ALICE, 5))) == "tx.bad_nonce"
    assert rejected_code(lambda: pool.add(tx(ALICE, 9))) == "tx.bad_nonce"
    pool.add(tx(ALICE, 8))
    assert rejected_code(lambda: pool.add(tx(ALICE, 8, "a replacement"))) == "tx.nonce_pending"


def test_caps_by_count_bytes_and_sender():
    pool, _ = make_pool(txs_max=3, per_sender_max=2)
    pool.add(tx(ALICE, 1))
    pool.add(tx(ALICE, 2))
    assert rejected_code(lambda: pool.add(tx(ALICE, 3))) == "mempool.sender_full"
    pool.add(tx(BOB, 1))
    assert rejected_code(lambda: pool.add(tx(account("carol"), 1))) == "mempool.full"
    small, _ = make_pool(bytes_max=len(tx(ALICE, 1).raw) + 10)
    small.add(tx(ALICE, 1))
    assert rejected_code(lambda: small.add(tx(BOB, 1))) == "mempool.full"


@pytest.mark.parametrize("limits", [{"txs_max": 2}, {"bytes_max": 2 * len(tx(ALICE, 1).raw) + 10}])
def test_a_full_mempool_refuses_before_checking_the_signature(limits):
    checks = []

    def verifier(public_key, message, signature):
        checks.append(signature)
        return verify_signature(public_key, message, signature)

    pool, _ = make_pool(verifier, **limits)
    pool.add_raw(tx(ALICE, 1).raw)
    pool.add_raw(tx(BOB, 1).raw)
    assert len(checks) == 2
    carol = tx(account("carol"), 1)
    forged = carol.raw[:-1] + bytes([carol.raw[-1] ^ 1])
    assert rejected_code(lambda: pool.add_raw(carol.raw)) == "mempool.full"
    assert rejected_code(lambda: pool.add_raw(forged)) == "mempool.full"
    assert len(checks) == 2 and len(pool) == 2


def test_reap_offers_only_contiguous_nonces_interleaved_by_arrival():
    pool, _ = make_pool()
    a2, a1, b1, a4 = tx(ALICE, 2), tx(ALICE, 1), tx(BOB, 1), tx(ALICE, 4)
    for item in (a2, a1, b1, a4):
        pool.add(item)
    assert [t.id for t in pool.reap(10, 10**6)] == [a1.id, a2.id, b1.id]
    assert [t.id for t in pool.reap(2, 10**6)] == [a1.id, a2.id]
    assert [t.id for t in pool.reap(10, len(a1.raw) + len(a2.raw))] == [a1.id, a2.id]


def test_commit_drops_used_nonces_including_conflicting_transactions():
    pool, ledger = make_pool()
    mine, later = tx(ALICE, 1, "here"), tx(ALICE, 2)
    pool.add(mine)
    pool.add(later)
    conflicting = tx(ALICE, 1, "committed through another node")
    ledger.nonces[ALICE.public_key] = 1
    pool.on_commit([conflicting])
    assert mine.id not in pool and later.id in pool and len(pool) == 1
    assert [t.id for t in pool.reap(10, 10**6)] == [later.id]


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.integers(1, 8)), max_size=40))
def test_reaped_blocks_commit_each_senders_contiguous_nonces_in_order(submissions):
    pool, ledger = make_pool(per_sender_max=5)
    accepted: dict[str, set[int]] = {"alice": set(), "bob": set(), "carol": set()}
    for name, nonce in submissions:
        try:
            pool.add(tx(account(name), nonce))
            accepted[name].add(nonce)
        except RequestRejected:
            pass
    while block := pool.reap(4, 10**6):
        for item in block:
            assert item.nonce == ledger.committed_nonce(item.sender) + 1
            ledger.nonces[item.sender] = item.nonce
        pool.on_commit(block)
    for name, nonces in accepted.items():
        contiguous = 0
        while contiguous + 1 in nonces:
            contiguous += 1
        assert ledger.committed_nonce(account(name).public_key) == contiguous
    assert len(pool) == sum(len(nonces) for nonces in accepted.values()) - sum(ledger.nonces.values())


def test_the_size_cap_follows_the_chain_parameter_from_one_commit_to_the_next():
    cap = [4096]
    pool = Mempool(MempoolLimits(), Ledger().committed_nonce, lambda: cap[0], TransactionDecoder(CHAIN, verify_signature))
    small, large = tx(ALICE, 1, "s"), tx(BOB, 1, "l" * 3000)
    pool.add_raw(small.raw)
    pool.add_raw(large.raw)
    cap[0] = 1024                 # a committed params.update lowers it
    pool.on_commit([])
    assert large.id not in pool and small.id in pool
    assert rejected_code(lambda: pool.add_raw(large.raw)) == "tx.too_large"
    cap[0] = 8192                 # and raises it
    pool.on_commit([])
    pool.add_raw(large.raw)
    assert large.id in pool and [t.id for t in pool.reap(10, 1 << 20)] == [small.id, large.id]


def test_what_waits_behind_a_missing_nonce_has_caps_of_its_own():
    pool, ledger = make_pool(gapped_txs_max=2)
    pool.add(tx(ALICE, 2))
    pool.add(tx(ALICE, 3))
    assert pool.gapped == (2, len(tx(ALICE, 2).raw) + len(tx(ALICE, 3).raw))
    assert rejected_code(lambda: pool.add(tx(BOB, 5))) == "mempool.gapped_full"
    pool.add(tx(BOB, 1))                        # a block can take it: not gapped, admitted
    pool.add(tx(ALICE, 1))                      # fills ALICE's gap: 2 and 3 can be taken now
    assert pool.gapped == (0, 0)
    pool.add(tx(BOB, 5))
    assert pool.gapped == (1, len(tx(BOB, 5).raw))
    ledger.nonces[BOB.public_key] = 4           # committed through another node: 5 is next now
    pool.on_commit([tx(BOB, 1)])
    assert pool.gapped == (0, 0)
    bytes_capped, _ = make_pool(gapped_bytes_max=len(tx(ALICE, 2).raw))
    bytes_capped.add(tx(ALICE, 2))
    assert rejected_code(lambda: bytes_capped.add(tx(BOB, 2))) == "mempool.gapped_full"


def test_keys_that_leave_their_first_nonce_out_cannot_fill_the_mempool():
    """Fresh keys' self-registrations at nonce 2 (nonce 1 never sent) and
    what follows them: no block can take any, so they get only the gapped room."""
    store = BlockStore(MemoryStore())
    ChainApplication(store, GENESIS)
    limits = MempoolLimits()
    pool = Mempool(limits, lambda sender: get_nonce(store.state(), sender), lambda: 64 * 1024,
                   TransactionDecoder(GENESIS.chain_id), lambda item, pending: check_admission(item, store.state(), pending))
    parked, index = 0, 0
    while True:
        key = account(f"parker {index}")
        index += 1
        try:
            for nonce in range(2, limits.nonce_gap_max + 1):
                pool.add_raw(build_transaction(key, GENESIS.chain_id, nonce, "account.register", {"name": "p"}).raw)
                parked += 1
        except RequestRejected as refused:
            assert refused.code == "mempool.gapped_full"
            break
    assert parked == limits.gapped_txs_max == len(pool)
    honest = build_transaction(account("honest"), GENESIS.chain_id, 1, "account.register", {"name": "alice"})
    pool.add_raw(honest.raw)
    assert [item.id for item in pool.reap(10, 1 << 20)] == [honest.id]


@settings(max_examples=60)
@given(st.lists(st.one_of(st.tuples(st.just("add"), st.sampled_from(["alice", "bob", "carol"]), st.integers(1, 7)),
                          st.tuples(st.just("commit"), st.integers(1, 4), st.just(0))), max_size=40))
def test_the_gapped_count_is_what_a_recount_from_scratch_gives(operations):
    pool, ledger = make_pool(per_sender_max=5)
    held: dict[bytes, dict[int, int]] = {}             # sender -> nonce -> size, as the pool holds them
    for operation, first, second in operations:
        if operation == "add":
            item = tx(account(first), second)
            try:
                pool.add(item)
                held.setdefault(item.sender, {})[item.nonce] = len(item.raw)
            except RequestRejected:
                pass
        else:
            block = pool.reap(first, 10**6)
            for item in block:
                ledger.nonces[item.sender] = item.nonce
                del held[item.sender][item.nonce]
            pool.on_commit(block)
        count = size = 0
        for sender, nonces in held.items():
            end = ledger.committed_nonce(sender) + 1
            while end in nonces:
                end += 1
            count += sum(1 for nonce in nonces if nonce > end)
            size += sum(length for nonce, length in nonces.items() if nonce > end)
        assert pool.gapped == (count, size)
