import pytest

from chain.genesis import DEFAULT_PARAMS
from chain.results import results_root
from commerce.errors import BlockInvalid
from commerce.executor import check_block_envelope, execute_block
from commerce.queries import account_get, order_get
from tests.chain.state_tree_reference import state_root_of
from tests.commerce.harness import DAY_MS, Chain, digest, make_key


def test_out_of_order_nonce_invalidates_the_block():
    chain = Chain()
    bob = make_key("bob")
    for nonce in (0 + 2, 5):
        with pytest.raises(BlockInvalid) as raised:
            chain.block([chain.tx(bob, "account.register", {"name": "bob"}, nonce=nonce)])
        assert raised.value.code == "block.bad_nonce"
    first = chain.tx(bob, "account.register", {"name": "bob"}, nonce=1)
    with pytest.raises(BlockInvalid):
        chain.block([first, first])


def test_failed_transaction_consumes_the_nonce_and_nothing_else():
    chain = Chain()
    bob = make_key("bob")
    execution = chain.block([chain.tx(bob, "funds.transfer", {"to": chain.admin.address, "amount": 5})])
    assert (execution.results[0].ok, execution.results[0].code) == (False, "funds.insufficient")
    assert sorted(execution.write_set) == sorted([b"n" + bob.public_key, b"m\x07time_ms"])
    assert account_get(chain.store, bob.address)["nonce"] == 1
    assert chain.root == state_root_of(chain.store.iterate_prefix(b""))     # the root commits to the whole state
    assert execution.results_root == results_root(execution.results)


def test_unknown_kind_and_malformed_body_are_failed_results():
    chain = Chain()
    bob = make_key("bob")
    results = chain.block([chain.tx(bob, "shop.teleport", {}), chain.tx(bob, "account.register", {"name": "b"}, nonce=2),
                           chain.tx(bob, "funds.transfer", {"to": 5, "amount": 1}, nonce=3)]).results
    assert [(result.ok, result.code) for result in results] == [(False, "tx.unknown_kind"), (True, ""), (False, "body.invalid")]
    assert results[1].events == ({"kind": "account.registered", "account": bob.address},)


def test_envelope_caps():
    chain = Chain()
    txs = [chain.tx(make_key(str(index)), "account.register", {"name": "x"}) for index in range(3)]
    params = dict(DEFAULT_PARAMS)
    check_block_envelope(txs, params)
    for name, value, code in (("block_txs_max", 2, "block.too_many_txs"), ("block_bytes_max", 100, "block.too_large"),
                              ("tx_bytes_max", 50, "block.tx_too_large")):
        with pytest.raises(BlockInvalid) as raised:
            check_block_envelope(txs, {**params, name: value})
        assert raised.value.code == code


def test_timed_steps_are_capped_and_carried_over():
    chain = Chain(params={"timed_steps_per_block_max": 2})
    merchant, carrier = chain.register("shop", "merchant"), chain.register("post", "carrier")
    buyer = chain.register("bob")
    chain.fund(buyer, 10**6)
    chain.list_product(merchant, price=100, stock=10)
    orders = [chain.order(buyer, merchant) for _ in range(5)]
    for order_id in orders:
        chain.ok(merchant, "order.ship", {"order": order_id, "carrier": carrier.address, "tracking": "t"})
    counts = [len(chain.block([], advance_ms=15 * DAY_MS if index == 0 else 1).step_events) for index in range(3)]
    assert counts == [2, 2, 1]
    assert {order_get(chain.store, order_id)["state"] for order_id in orders} == {"refunded"}
    assert account_get(chain.store, buyer.address)["balances"]["SHC"] == 10**6


def test_same_block_twice_gives_the_same_roots():
    chain = Chain()
    txs = [chain.tx(make_key(str(index)), "account.register", {"name": "x"}) for index in range(3)]
    first = execute_block(chain.store, chain.time_ms + 5, txs)
    second = execute_block(chain.store, chain.time_ms + 5, txs)
    assert (first.write_set, first.results_root) == (second.write_set, second.results_root)


def test_suspended_merchant_cannot_ship():
    chain = Chain()
    merchant = chain.register("shop", "merchant")
    chain.ok(chain.admin, "account.suspend", {"account": merchant.address, "reason": digest("x").hex()[:10]})
    chain.fails(merchant, "product.list", {"sku": "a", "title": "a", "price": 1, "stock": 1, "category": "c"}, "auth.suspended")


def test_a_failing_timed_step_changes_nothing_but_its_timer(monkeypatch):
    from commerce import dispatch, executor
    from commerce.errors import TxRejected
    from commerce.keys import timer_key

    def broken_step(state, ctx, record_id):
        state.put(b"written by the step", b"1")
        raise TxRejected("funds.overflow", "the balance would exceed 2^64 - 1")

    monkeypatch.setitem(dispatch.TIMED_STEPS, "broken", broken_step)
    monkeypatch.setattr(executor, "TIMED_STEPS", dispatch.TIMED_STEPS)
    chain = Chain()
    key = timer_key(chain.time_ms + 500, "broken", "ab" * 32)
    chain.store.put(key, b"")
    execution = chain.block([])
    assert execution.step_events == ({"kind": "step.failed", "step": "broken", "id": "ab" * 32, "code": "funds.overflow",
                                      "message": "the balance would exceed 2^64 - 1"},)
    assert chain.store.get(key) is None and chain.store.get(b"written by the step") is None


def test_a_timeout_set_near_two_to_the_64_never_overflows():
    from tests.commerce.test_orders import Market

    market = Market()
    market.chain.ok(market.chain.admin, "params.update", {"name": "ship_timeout_ms", "value": 2**64 - 1})
    order_id = market.order_in("shipped")
    assert market.state(order_id) == "shipped"
