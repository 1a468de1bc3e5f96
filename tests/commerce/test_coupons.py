import pytest

from commerce.executor import get_nonce
from commerce.keys import TIMER, parse_timer_key
from commerce.queries import account_get, coupon_batch_get, coupon_get, coupons_list, order_get
from tests.commerce.harness import DAY_MS, GENESIS_TIME_MS, Chain, digest


@pytest.fixture
def chain() -> Chain:
    return Chain()


def _issue(chain, merchant, **extra) -> str:
    body = {"brand": "Acme", "content": "10 off", "discount": {"kind": "amount", "value": 1_000}, "price": 500,
            "total": 99, "valid_from": GENESIS_TIME_MS, "valid_until": GENESIS_TIME_MS + 30 * DAY_MS,
            "serial_prefix": "ACME-2026", **extra}
    return chain.ok(merchant, "coupon.issue", body).id


def test_batch_of_99_with_120_buyers_sells_exactly_99(chain):
    merchant = chain.register("shop", "merchant")
    batch = _issue(chain, merchant, offline_quota=20)
    buyers = [chain.register(f"buyer-{index}") for index in range(120)]
    txs = []
    for buyer in buyers:
        chain.fund(buyer, 500)
        txs.append(chain.tx(buyer, "coupon.buy", {"batch": batch}))
    results = chain.block(txs).results
    assert sum(result.ok for result in results) == 79
    assert {result.code for result in results if not result.ok} == {"coupon.sold_out"}
    for index, buyer in enumerate(buyers[:24]):
        result, _ = chain.run(merchant, "coupon.record_sale", {"batch": batch, "buyer": buyer.address, "evidence_hash": digest(str(index))})
        assert result.ok == (index < 20) and (result.ok or result.code == "coupon.sold_out")
    view = coupon_batch_get(chain.store, batch)
    assert (view["sold_online"], view["sold_offline"], view["sold"], view["total"]) == (79, 20, 99, 99)
    assert account_get(chain.store, merchant.address)["balances"]["SHC"] == 79 * 500
    assert coupon_get(chain.store, f"{batch}/99")["serial"] == "ACME-2026-99"
    assert coupons_list(chain.store, batch=batch, limit=100)["total"] == 99


def test_history_transfer_and_redeem_with_tx_ids(chain):
    merchant = chain.register("shop", "merchant")
    alice, bob = chain.register("alice"), chain.register("bob")
    chain.fund(alice, 500)
    batch = _issue(chain, merchant)
    buy = chain.ok(alice, "coupon.buy", {"batch": batch})
    coupon = f"{batch}/1"
    move = chain.ok(alice, "coupon.transfer", {"coupon": coupon, "to": bob.address})
    chain.fails(alice, "coupon.redeem", {"coupon": coupon}, "coupon.not_holder")
    redeem = chain.ok(bob, "coupon.redeem", {"coupon": coupon})
    chain.fails(bob, "coupon.redeem", {"coupon": coupon}, "coupon.redeemed")
    view = coupon_get(chain.store, coupon)
    assert [entry["tx"] for entry in view["history"]] == [buy.id, move.id, redeem.id]
    assert [entry["event"] for entry in view["history"]] == ["sold", "transferred", "redeemed"]
    assert view["holder"] == bob.address and view["redeemed"]
    assert coupon_batch_get(chain.store, batch)["redeemed"] == 1


def test_coupon_errors(chain):
    merchant = chain.register("shop", "merchant")
    alice = chain.register("alice")
    chain.fund(alice, 10_000)
    window = {"valid_from": GENESIS_TIME_MS + 10 * DAY_MS, "valid_until": GENESIS_TIME_MS + 20 * DAY_MS}
    future = _issue(chain, merchant, **window)
    chain.ok(alice, "coupon.buy", {"batch": future})
    chain.fails(alice, "coupon.redeem", {"coupon": f"{future}/1"}, "coupon.not_yet_valid")
    chain.fails(alice, "coupon.redeem", {"coupon": f"{future}/2"}, "coupon.unknown")
    chain.fails(alice, "coupon.redeem", {"coupon": "nonsense"}, "body.invalid")
    chain.fails(alice, "coupon.buy", {"batch": "ab" * 32}, "coupon.unknown_batch")
    chain.fails(alice, "coupon.record_sale", {"batch": future, "buyer": alice.address, "evidence_hash": digest("e")}, "auth.forbidden")
    chain.fails(merchant, "coupon.issue", {"brand": "b", "content": "c", "discount": {"kind": "amount", "value": 1}, "price": 1,
                                           "total": 5, "valid_from": 10, "valid_until": 5, "serial_prefix": "S"}, "coupon.bad_window")
    chain.fails(merchant, "coupon.issue", {"brand": "b", "content": "c", "discount": {"kind": "pct", "value": 1}, "price": 1,
                                           "total": 5, "valid_from": 1, "valid_until": 5, "serial_prefix": "S"}, "body.invalid")
    bad_quota = {**window, "offline_quota": 100}
    chain.fails(merchant, "coupon.issue", {"brand": "b", "content": "c", "discount": {"kind": "bps", "value": 1}, "price": 1,
                                           "total": 5, "serial_prefix": "S", **bad_quota}, "coupon.bad_quota")
    chain.fails(alice, "coupon.issue", {"brand": "b", "content": "c", "discount": {"kind": "bps", "value": 1}, "price": 1,
                                        "total": 5, "serial_prefix": "S", **window}, "auth.forbidden")
    chain.block([], advance_ms=21 * DAY_MS)
    chain.fails(alice, "coupon.redeem", {"coupon": f"{future}/1"}, "coupon.expired")
    chain.fails(alice, "coupon.buy", {"batch": future}, "coupon.expired")
    view = coupon_batch_get(chain.store, future)
    assert (view["expired"], view["expired_unredeemed"]) == (True, 1)


def test_coupon_inside_order_create(chain):
    merchant, other = chain.register("shop", "merchant"), chain.register("other", "merchant")
    alice = chain.register("alice")
    chain.fund(alice, 100_000)
    chain.list_product(merchant, price=10_000)
    chain.list_product(other, price=10_000)
    batch = _issue(chain, merchant, discount={"kind": "bps", "value": 1_500}, skus=["tea"])
    chain.ok(alice, "coupon.buy", {"batch": batch})
    chain.ok(alice, "coupon.buy", {"batch": batch})
    chain.fails(alice, "order.create", {"merchant": other.address, "items": [{"sku": "tea", "qty": 1}], "coupon": f"{batch}/2",
                                        "shipping_hash": digest("a")}, "coupon.foreign")
    chain.list_product(merchant, sku="cup", price=1_000)
    chain.fails(alice, "order.create", {"merchant": merchant.address, "items": [{"sku": "cup", "qty": 1}], "coupon": f"{batch}/2",
                                        "shipping_hash": digest("a")}, "coupon.not_applicable")
    order_id = chain.order(alice, merchant, qty=2, coupon=f"{batch}/1")
    order = order_get(chain.store, order_id)
    assert (order["total"], order["discount"], order["escrow"]) == (20_000, 3_000, 17_000)
    assert coupon_get(chain.store, f"{batch}/1")["history"][-1] == {
        "event": "redeemed", "tx": order_id, "time_ms": chain.time_ms, "order": order_id}
    assert not coupon_get(chain.store, f"{batch}/2")["redeemed"]


def _expiry_events(execution) -> list[dict]:
    return [event for event in execution.step_events if event["kind"] == "coupon.batch_expired"]


def _timer_kinds(chain) -> list[str]:
    return [parse_timer_key(key)[1] for key, _ in chain.store.iterate_prefix(TIMER)]


def test_expiry_step_runs_once_in_the_first_block_past_valid_until(chain):
    merchant = chain.register("shop", "merchant")
    alice, bob = chain.register("alice"), chain.register("bob")
    chain.fund(alice, 10_000)
    valid_until = chain.time_ms + 10 * DAY_MS
    batch = _issue(chain, merchant, offline_quota=2, valid_until=valid_until)
    assert _timer_kinds(chain) == ["coupon_expiry"]
    chain.ok(alice, "coupon.buy", {"batch": batch})
    chain.ok(merchant, "coupon.record_sale", {"batch": batch, "buyer": bob.address, "evidence_hash": digest("paper")})
    chain.ok(bob, "coupon.redeem", {"coupon": f"{batch}/2"})
    before = coupon_batch_get(chain.store, batch)
    assert (before["expired"], before["expired_unredeemed"], before["expired_ms"]) == (False, 0, None)
    # valid_until itself is still inside the window: no step, and a sale is accepted as before.
    at_end = chain.replay([chain.tx(alice, "coupon.buy", {"batch": batch})], valid_until)
    assert at_end.results[0].ok and _expiry_events(at_end) == []
    assert coupon_batch_get(chain.store, batch)["expired"] is False
    past = chain.replay([], valid_until + 1)
    assert _expiry_events(past) == [{"kind": "coupon.batch_expired", "batch": batch, "merchant": merchant.address,
                                     "sold_online": 2, "sold_offline": 1, "redeemed": 1}]
    after = coupon_batch_get(chain.store, batch)
    assert {name: after[name] for name in ("sold_online", "sold_offline", "sold", "redeemed")} == {
        "sold_online": 2, "sold_offline": 1, "sold": 3, "redeemed": 1}
    assert (after["expired"], after["expired_unredeemed"], after["expired_ms"]) == (True, 2, valid_until + 1)
    assert _timer_kinds(chain) == []
    assert _expiry_events(chain.block([], advance_ms=DAY_MS)) == []
    chain.fails(alice, "coupon.buy", {"batch": batch}, "coupon.expired")
    chain.fails(merchant, "coupon.record_sale", {"batch": batch, "buyer": bob.address, "evidence_hash": digest("late")},
                "coupon.expired")
    chain.fails(alice, "coupon.redeem", {"coupon": f"{batch}/1"}, "coupon.expired")
    chain.fails(alice, "coupon.transfer", {"coupon": f"{batch}/1", "to": bob.address}, "coupon.expired")
    assert {name: coupon_batch_get(chain.store, batch)[name] for name in ("sold_online", "sold_offline", "redeemed")} == {
        "sold_online": 2, "sold_offline": 1, "redeemed": 1}


def test_expiry_steps_respect_the_per_block_cap_and_carry_over():
    chain = Chain(params={"timed_steps_per_block_max": 2})
    merchant = chain.register("shop", "merchant")
    alice = chain.register("alice")
    chain.fund(alice, 10_000)
    valid_until = chain.time_ms + 5 * DAY_MS
    batches = [_issue(chain, merchant, valid_until=valid_until, serial_prefix=f"S{index}") for index in range(3)]
    nonce = get_nonce(chain.store, alice.public_key)
    buys = [chain.tx(alice, "coupon.buy", {"batch": batch}, nonce=nonce + 1 + index) for index, batch in enumerate(batches)]
    first = chain.replay(buys, valid_until + 1)
    # Two steps run, in key order (due time, kind, then batch id); the third waits for the next block.
    assert [event["batch"] for event in _expiry_events(first)] == sorted(batches)[:2]
    assert [(result.ok, result.code) for result in first.results] == [(False, "coupon.expired")] * 3
    waiting = coupon_batch_get(chain.store, sorted(batches)[2])
    assert (waiting["expired"], waiting["expired_ms"]) == (True, None)
    second = chain.block([])
    assert [event["batch"] for event in _expiry_events(second)] == sorted(batches)[2:]
    assert coupon_batch_get(chain.store, sorted(batches)[2])["expired_ms"] == valid_until + 1001
    assert _expiry_events(chain.block([])) == [] and _timer_kinds(chain) == []


def test_a_batch_valid_until_the_end_of_time_arms_no_timer(chain):
    merchant = chain.register("shop", "merchant")
    batch = _issue(chain, merchant, valid_until=2**64 - 1)
    assert _timer_kinds(chain) == [] and coupon_batch_get(chain.store, batch)["expired"] is False
