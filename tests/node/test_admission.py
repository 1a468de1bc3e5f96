"""Admission before the mempool: what no block could use is refused with the
code the block would give, and nothing of it is included. Real mempool,
real application state."""
import pytest

from chain.genesis import genesis_from_document
from chain.keys import KeyPair, SignatureVerifier
from chain.transaction import TransactionDecoder, build_transaction, decode_transaction
from commerce.executor import get_nonce
from node.admission import check_admission
from node.application import ChainApplication
from node.errors import RequestRejected
from node.mempool import Mempool, MempoolLimits
from storage.blockstore import BlockStore
from storage.memory import MemoryStore
from tests.factories import certify, seeded_key, validator_keys

KEYS = validator_keys(4)
ADMIN, ALICE = seeded_key("admin"), seeded_key("alice")
DOCUMENT = {
    "chain_id": "shopchain-admission", "genesis_time_ms": 1_767_225_600_000,
    "validators": [key.address for key in KEYS], "admins": [ADMIN.address], "treasury": seeded_key("treasury").address,
    "allocations": [{"address": ADMIN.address, "amount": 10**12}],
}


def node(params=None):
    genesis = genesis_from_document({**DOCUMENT, "params": params} if params else DOCUMENT)
    store = BlockStore(MemoryStore())
    verifier = SignatureVerifier(1_000)
    app = ChainApplication(store, genesis, verifier)
    mempool = Mempool(MempoolLimits(), lambda sender: get_nonce(store.state(), sender), lambda: 64 * 1024,
                      TransactionDecoder(genesis.chain_id, verifier),
                      lambda tx, pending: check_admission(tx, store.state(), pending))
    return app, mempool, genesis


def signed(genesis, key, nonce, kind, body):
    return build_transaction(key, genesis.chain_id, nonce, kind, body).raw


def refused(mempool, raw) -> str:
    with pytest.raises(RequestRejected) as error:
        mempool.add_raw(raw)
    return error.value.code


@pytest.mark.parametrize("kind, body, code", [
    ("funds.steal", {"amount": 1}, "tx.unknown_kind"),
    ("funds.transfer", {"amount": 5}, "body.missing_field"),
    ("funds.transfer", {"to": ALICE.address, "amount": 5, "junk": 1}, "body.unknown_field"),
    ("funds.transfer", {"to": ALICE.address, "amount": "five"}, "body.invalid"),
    ("funds.transfer", {"to": "not an address", "amount": 5}, "body.invalid"),
])
def test_malformed_transactions_of_a_registered_sender_are_refused(kind, body, code):
    _, mempool, genesis = node()
    assert refused(mempool, signed(genesis, ADMIN, 1, kind, body)) == code
    assert len(mempool) == 0


def test_a_fresh_key_cannot_fill_blocks_with_failing_transactions():
    app, mempool, genesis = node()
    spammer = KeyPair.generate()
    assert refused(mempool, signed(genesis, spammer, 1, "funds.transfer", {"to": ALICE.address, "amount": 1})) == "auth.not_registered"
    assert refused(mempool, signed(genesis, spammer, 1, "no.such_kind", {})) == "tx.unknown_kind"
    assert refused(mempool, signed(genesis, spammer, 1, "account.register", {})) == "body.missing_field"
    assert len(mempool) == 0 and mempool.reap(100, 10**6) == []


def test_a_fresh_key_registers_itself_and_may_queue_behind_its_registration():
    _, mempool, genesis = node()
    newcomer = KeyPair.generate()
    mempool.add_raw(signed(genesis, newcomer, 1, "account.register", {"name": "new"}))
    mempool.add_raw(signed(genesis, newcomer, 2, "funds.transfer", {"to": ALICE.address, "amount": 1}))
    assert len(mempool) == 2


def test_another_keys_pending_registration_admits_nothing_for_it():
    _, mempool, genesis = node()
    newcomer = KeyPair.generate()
    mempool.add_raw(signed(genesis, ADMIN, 1, "account.register", {"name": "by admin", "account": newcomer.address}))
    assert refused(mempool, signed(genesis, newcomer, 1, "funds.transfer", {"to": ALICE.address, "amount": 1})) == "auth.not_registered"


def test_with_registration_closed_a_fresh_key_cannot_register_itself():
    _, mempool, genesis = node({"open_registration": False})
    newcomer = KeyPair.generate()
    assert refused(mempool, signed(genesis, newcomer, 1, "account.register", {"name": "new"})) == "auth.not_registered"
    mempool.add_raw(signed(genesis, ADMIN, 1, "account.register", {"name": "by admin", "account": newcomer.address}))
    assert len(mempool) == 1                       # an admin still registers it


def test_a_suspended_sender_is_refused():
    app, mempool, genesis = node()
    mempool.add_raw(signed(genesis, ADMIN, 1, "account.register", {"name": "alice", "account": ALICE.address}))
    mempool.add_raw(signed(genesis, ADMIN, 2, "account.suspend", {"account": ALICE.address, "reason": "fraud"}))
    txs = mempool.reap(100, 10**6)
    block = app.build_block(1, app.store.last_block_hash(), genesis.genesis_time_ms + 1000, KEYS[1].public_key, (), txs)
    committed = app.persist_block(block, certify(block, KEYS, genesis.validators, genesis.chain_id))
    assert [result.ok for result in committed.execution.results] == [True, True]
    mempool.on_commit(committed.txs)
    assert refused(mempool, signed(genesis, ALICE, 1, "funds.transfer", {"to": ADMIN.address, "amount": 1})) == "auth.suspended"


def test_the_block_check_is_unchanged_a_proposer_can_still_include_such_a_transaction():
    app, _, genesis = node()
    spam = decode_transaction(signed(genesis, KeyPair.generate(), 1, "no.such_kind", {}), genesis.chain_id)
    block = app.build_block(1, app.store.last_block_hash(), genesis.genesis_time_ms + 1000, KEYS[1].public_key, (), [spam])
    committed = app.persist_block(block, certify(block, KEYS, genesis.validators, genesis.chain_id))
    assert [(result.ok, result.code) for result in committed.execution.results] == [(False, "tx.unknown_kind")]
