import pytest

from chain.constants import MAX_UINT64
from commerce.errors import TxRejected
from commerce.orders import ORDER_EDGES, ORDER_STATES, compute_fee_shares
from commerce.queries import account_get, order_get, product_get
from tests.commerce.harness import DAY_MS, GENESIS_TIME_MS, Chain, digest

PRICE = 10_000


class Market:
    def __init__(self, params=None) -> None:
        self.chain = Chain(params=params)
        self.agent = self.chain.register("agent", "agent")
        self.merchant = self.chain.register("shop", "merchant")
        self.carrier = self.chain.register("post", "carrier")
        self.buyer = self.chain.register("bob", referrer=self.agent.address)
        self.chain.fund(self.buyer, 10 * PRICE)
        self.chain.list_product(self.merchant, price=PRICE, stock=5)

    def balance(self, key) -> int:
        view = account_get(self.chain.store, key.address)
        return view["balances"].get("SHC", 0) if view else 0

    def state(self, order_id: str) -> str:
        return order_get(self.chain.store, order_id)["state"]

    def order_in(self, target: str) -> str:
        order_id = self.chain.order(self.buyer, self.merchant)
        for kind, key, body in PATHS[target]:
            self.chain.ok(getattr(self, key), kind, {"order": order_id, **body(self)})
        assert self.state(order_id) == target
        return order_id

    def step(self, order_id: str, step: str):
        """Fire one named step at the order; returns the TxResult (None for a timeout)."""
        if step in TIMEOUTS:
            self.chain.block([], advance_ms=TIMEOUTS[step] + 1)
            return None
        kind, key, body = STEPS[step]
        result, _ = self.chain.run(getattr(self, key), kind, {"order": order_id, **body(self)})
        return result


def _ship(market):
    return {"carrier": market.carrier.address, "tracking": "T-1"}


def _deliver_body(market):
    return {"stage": "delivery", "location": "door", "handler": "post", "data_hash": digest("pod")}


STEPS = {
    "cancel": ("order.cancel", "buyer", lambda m: {}),
    "ship": ("order.ship", "merchant", _ship),
    "confirm": ("order.confirm", "buyer", lambda m: {}),
    "refund": ("order.refund", "merchant", lambda m: {"reason": "sorry"}),
    "partial_refund": ("order.refund", "merchant", lambda m: {"reason": "dent", "amount": 3_000}),
    "dispute": ("order.dispute", "buyer", lambda m: {"reason_hash": digest("broken")}),
    "resolve": ("order.resolve", "admin", lambda m: {"buyer_share_bps": 7_000}),
}
TIMEOUTS = {"ship_timeout": 14 * DAY_MS, "auto_confirm": 7 * DAY_MS, "dispute_timeout": 14 * DAY_MS}
PATHS = {
    "created": [],
    "shipped": [STEPS["ship"]],
    "delivered": [STEPS["ship"]],
    "disputed": [STEPS["ship"], STEPS["dispute"]],
    "cancelled": [STEPS["cancel"]],
    "refunded": [STEPS["ship"], STEPS["refund"]],
    "settled": [STEPS["ship"]],
    "resolved": [STEPS["ship"], STEPS["dispute"], STEPS["resolve"]],
}


def _reach(market: Market, target: str) -> str:
    if target in ("delivered", "settled"):
        order_id = market.order_in("shipped")
        _deliver(market, order_id)
        if target == "settled":
            market.chain.ok(market.buyer, "order.confirm", {"order": order_id})
        return order_id
    return market.order_in(target)


def _deliver(market: Market, order_id: str):
    result, _ = market.chain.run(market.carrier, "trace.record", {"subject": order_id, **_deliver_body(market)})
    return result


Market.admin = property(lambda self: self.chain.admin)
ALL_STEPS = sorted(STEPS) + sorted(TIMEOUTS) + ["deliver"]


@pytest.mark.parametrize("edge", sorted(ORDER_EDGES), ids=lambda edge: f"{edge[0]}-{edge[1]}")
def test_each_edge_moves_the_order(edge):
    source, step = edge
    market = Market()
    order_id = _reach(market, source)
    result = _deliver(market, order_id) if step == "deliver" else market.step(order_id, step)
    assert result is None or result.ok, result
    assert market.state(order_id) == ORDER_EDGES[edge]


NON_EDGES = [(state, step) for state in ORDER_STATES for step in ALL_STEPS
             if (state, step) not in ORDER_EDGES and step not in TIMEOUTS and step != "deliver"]


@pytest.mark.parametrize("edge", NON_EDGES, ids=lambda edge: f"{edge[0]}-{edge[1]}")
def test_each_non_edge_is_refused(edge):
    source, step = edge
    market = Market()
    order_id = _reach(market, source)
    result = market.step(order_id, step)
    assert (result.ok, result.code) == (False, "order.illegal_step")
    assert market.state(order_id) == source


@pytest.mark.parametrize("source", [state for state in ORDER_STATES if state not in ("shipped", "delivered", "disputed")])
def test_timeouts_leave_other_states_alone(source):
    market = Market()
    order_id = _reach(market, source)
    market.chain.block([], advance_ms=30 * DAY_MS)
    assert market.state(order_id) == source


def test_delivery_of_an_unshipped_order_changes_nothing():
    market = Market()
    order_id = market.order_in("created")
    assert _deliver(market, order_id).code == "auth.forbidden"  # no carrier yet
    market.chain.ok(market.merchant, "trace.record", {"subject": order_id, **_deliver_body(market)})
    assert market.state(order_id) == "created"


def test_create_moves_price_into_escrow_and_reserves_stock():
    market = Market()
    order_id = market.chain.order(market.buyer, market.merchant, qty=2)
    assert market.balance(market.buyer) == 8 * PRICE
    assert order_get(market.chain.store, order_id)["escrow"] == 2 * PRICE
    assert product_get(market.chain.store, f"{market.merchant.address}/tea")["stock"] == 3
    market.chain.ok(market.buyer, "order.cancel", {"order": order_id})
    assert market.balance(market.buyer) == 10 * PRICE
    assert product_get(market.chain.store, f"{market.merchant.address}/tea")["stock"] == 5


def test_create_errors():
    market = Market()
    chain, buyer, merchant = market.chain, market.buyer, market.merchant
    base = {"merchant": merchant.address, "shipping_hash": digest("a")}
    chain.fails(buyer, "order.create", {**base, "items": [{"sku": "nope", "qty": 1}]}, "product.unknown")
    chain.fails(buyer, "order.create", {**base, "items": [{"sku": "tea", "qty": 6}]}, "product.out_of_stock")
    chain.fails(buyer, "order.create", {**base, "items": [{"sku": "tea"}]}, "body.invalid")
    chain.fails(buyer, "order.create", {**base, "items": []}, "body.invalid")
    poor = chain.register("poor")
    chain.fails(poor, "order.create", {**base, "items": [{"sku": "tea", "qty": 1}]}, "funds.insufficient")
    assert product_get(chain.store, f"{merchant.address}/tea")["stock"] == 5


def test_step_errors():
    market = Market()
    order_id = market.order_in("created")
    chain = market.chain
    chain.fails(market.buyer, "order.ship", {"order": order_id, "carrier": market.carrier.address, "tracking": "x"}, "auth.forbidden")
    chain.fails(market.merchant, "order.ship", {"order": order_id, "carrier": market.buyer.address, "tracking": "x"}, "order.bad_carrier")
    chain.fails(market.buyer, "order.cancel", {"order": "ab" * 32}, "order.unknown")
    chain.fails(market.buyer, "order.cancel", {"order": "xyz"}, "body.invalid")
    chain.fails(market.buyer, "order.resolve", {"order": order_id, "buyer_share_bps": 1}, "auth.forbidden")
    shipped = market.order_in("shipped")
    chain.fails(market.merchant, "order.refund", {"order": shipped, "reason": "x", "amount": PRICE + 1}, "order.bad_amount")


def test_settlement_pays_everyone_to_the_unit():
    market = Market()
    order_id = _reach(market, "delivered")
    before = {name: market.balance(getattr(market, name)) for name in ("merchant", "agent")}
    treasury, validators = market.balance(market.chain.treasury), [market.balance(v) for v in market.chain.validators]
    market.chain.ok(market.buyer, "order.confirm", {"order": order_id})
    shares = compute_fee_shares(PRICE, {"fee_bps": 200, "agent_bps": 2_000, "validator_bps": 3_000}, 2, True)
    assert shares == {"fee": 200, "agent": 40, "validator_each": 30, "treasury": 100, "merchant": 9_800}
    assert market.balance(market.merchant) - before["merchant"] == 9_800
    assert market.balance(market.agent) - before["agent"] == 40
    assert market.balance(market.chain.treasury) - treasury == 100
    assert [market.balance(v) - old for v, old in zip(market.chain.validators, validators)] == [30, 30]


def test_fee_without_agent_goes_to_treasury():
    shares = compute_fee_shares(10_001, {"fee_bps": 200, "agent_bps": 2_000, "validator_bps": 3_000}, 3, False)
    assert shares == {"fee": 200, "agent": 0, "validator_each": 20, "treasury": 140, "merchant": 9_801}


def test_partial_refund_settles_the_rest():
    market = Market()
    order_id = _reach(market, "delivered")
    merchant_before, buyer_before = market.balance(market.merchant), market.balance(market.buyer)
    market.chain.ok(market.merchant, "order.refund", {"order": order_id, "reason": "dent", "amount": 3_000})
    assert market.balance(market.buyer) - buyer_before == 3_000
    assert market.balance(market.merchant) - merchant_before == 7_000 - 7_000 * 200 // 10_000
    assert market.state(order_id) == "settled"


def test_dispute_resolved_70_30_splits_escrow_exactly():
    market = Market()
    order_id = market.order_in("disputed")
    merchant_before, buyer_before = market.balance(market.merchant), market.balance(market.buyer)
    market.chain.ok(market.chain.admin, "order.resolve", {"order": order_id, "buyer_share_bps": 7_000})
    assert market.balance(market.buyer) - buyer_before == 7_000
    assert market.balance(market.merchant) - merchant_before == 3_000 - 60
    assert order_get(market.chain.store, order_id)["refunded"] == 7_000


def test_reviews_once_from_the_buyer_of_a_settled_order():
    market = Market()
    open_order = market.order_in("created")
    body = {"rating": 5, "text_hash": digest("great")}
    market.chain.fails(market.buyer, "review.post", {"order": open_order, **body}, "review.not_settled")
    order_id = _reach(market, "settled")
    market.chain.fails(market.merchant, "review.post", {"order": order_id, **body}, "auth.forbidden")
    market.chain.fails(market.buyer, "review.post", {"order": order_id, "rating": 6, "text_hash": digest("x")}, "body.invalid")
    market.chain.ok(market.buyer, "review.post", {"order": order_id, **body})
    market.chain.fails(market.buyer, "review.post", {"order": order_id, **body}, "review.exists")
    assert order_get(market.chain.store, order_id)["review"]["rating"] == 5


def test_traced_order_is_auto_confirmed_and_pays_to_the_unit():
    market = Market()
    order_id = market.order_in("shipped")
    for stage in ("procurement", "production", "warehousing", "transit"):
        market.chain.ok(market.merchant, "trace.record", {"subject": order_id, "stage": stage, "location": "x",
                                                         "handler": "shop", "data_hash": digest(stage)})
    assert _deliver(market, order_id).ok and market.state(order_id) == "delivered"
    merchant_before, treasury_before = market.balance(market.merchant), market.balance(market.chain.treasury)
    market.chain.block([], advance_ms=7 * DAY_MS - 1000)
    assert market.state(order_id) == "delivered"
    execution = market.chain.block([], advance_ms=1000)
    assert market.state(order_id) == "settled"
    assert [event["kind"] for event in execution.step_events] == ["order.settled"]
    assert market.balance(market.merchant) - merchant_before == 9_800
    assert market.balance(market.chain.treasury) - treasury_before == 100
    assert market.balance(market.agent) == 40


def test_a_due_deadline_refuses_other_steps_while_its_timer_waits():
    """With one timed step a block, the second shipped order's ship_timeout is
    due but waits: the buyer's dispute meets what it would once the step ran."""
    market = Market(params={"timed_steps_per_block_max": 1})
    first, second = market.order_in("shipped"), market.order_in("shipped")
    dispute = {"order": second, "reason_hash": digest("late")}
    result, _ = market.chain.run(market.buyer, "order.dispute", dispute, advance_ms=TIMEOUTS["ship_timeout"] + 1)
    assert (result.ok, result.code) == (False, "order.illegal_step")
    assert "ship_timeout fell due" in result.message
    assert (market.state(first), market.state(second)) == ("refunded", "shipped")
    assert _deliver(market, second).ok and market.state(second) == "refunded"
    assert market.balance(market.buyer) == 10 * PRICE


@pytest.mark.parametrize("step", ["cancel", "ship_timeout"])
def test_restock_stops_at_the_largest_amount(step):
    """The merchant sets the stock to 2^64 - 1 while an order holds some: giving
    it back neither fails nor leaves a record that cannot be written."""
    market = Market()
    order_id = market.order_in("created" if step == "cancel" else "shipped")
    market.chain.ok(market.merchant, "product.update", {"sku": "tea", "stock": MAX_UINT64})
    result = market.step(order_id, step)
    assert result is None or result.ok
    assert market.state(order_id) in ("cancelled", "refunded")
    assert product_get(market.chain.store, f"{market.merchant.address}/tea")["stock"] == MAX_UINT64
    assert market.balance(market.buyer) == 10 * PRICE


def test_a_total_past_the_largest_amount_is_refused():
    """A coupon of 100 % would leave no escrow to fail on: the total itself is refused."""
    market = Market()
    chain, merchant, buyer = market.chain, market.merchant, market.buyer
    chain.list_product(merchant, sku="gold", price=MAX_UINT64 // 2 + 1, stock=2)
    batch = chain.ok(merchant, "coupon.issue", {
        "brand": "Acme", "content": "all free", "discount": {"kind": "bps", "value": 10_000}, "price": 1, "total": 1,
        "valid_from": GENESIS_TIME_MS, "valid_until": GENESIS_TIME_MS + 30 * DAY_MS, "serial_prefix": "FREE"}).id
    chain.ok(buyer, "coupon.buy", {"batch": batch})
    body = {"merchant": merchant.address, "items": [{"sku": "gold", "qty": 2}], "shipping_hash": digest("a"),
            "coupon": f"{batch}/1"}
    chain.fails(buyer, "order.create", body, "order.total_overflow")
    assert product_get(chain.store, f"{merchant.address}/gold")["stock"] == 2


def test_a_review_waits_for_no_delayed_auto_confirm():
    """The auto_confirm is due but waits behind the cap: the buyer, who can no
    longer confirm, can review as once it has run."""
    market = Market(params={"timed_steps_per_block_max": 1})
    first, second = _reach(market, "delivered"), _reach(market, "delivered")
    review = {"order": second, "rating": 4, "text_hash": digest("fine")}
    result, _ = market.chain.run(market.buyer, "review.post", review, advance_ms=TIMEOUTS["auto_confirm"] + 1)
    assert result.ok, result
    assert (market.state(first), market.state(second)) == ("settled", "delivered")
    market.chain.block([])
    assert market.state(second) == "settled" and order_get(market.chain.store, second)["review"]["rating"] == 4


def test_an_order_whose_timed_step_failed_is_its_parties_again(monkeypatch):
    """A timed step that fails takes its timer with it: the deadline rule no
    longer holds the order, so the buyer and merchant can still move it."""
    from commerce import dispatch
    market = Market()
    order_id = market.order_in("shipped")

    def failing(state, ctx, record_id):
        raise TxRejected("funds.overflow", "as a step that breaks a rule")
    monkeypatch.setitem(dispatch.TIMED_STEPS, "ship_timeout", failing)
    execution = market.chain.block([], advance_ms=TIMEOUTS["ship_timeout"] + 1)
    assert [event["kind"] for event in execution.step_events] == ["step.failed"]
    assert market.state(order_id) == "shipped"
    market.chain.ok(market.merchant, "order.refund", {"order": order_id, "reason": "late"})
    assert market.state(order_id) == "refunded" and market.balance(market.buyer) == 10 * PRICE
