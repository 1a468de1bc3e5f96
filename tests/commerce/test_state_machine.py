"""Random transactions of every kind from random actors, legal or not, with
the ledger invariants checked after every block, on memory and LevelDB twins."""
import shutil
import tempfile

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chain.encoding import unpack
from commerce.keys import BALANCE, BATCH, ORDER, PRODUCT
from commerce.orders import ORDER_EDGES
from commerce.queries import asset_get, contract_get, order_get
from storage.leveldb import LevelDBStore
from tests.commerce.harness import DAY_MS, Chain, digest

OPEN_STATES = ("created", "shipped", "delivered", "disputed")
NAMES = ("ann", "ben", "cat", "dan")


def _reachable(source: str) -> set[str]:
    seen, frontier = {source}, [source]
    while frontier:
        state = frontier.pop()
        for (start, _), end in ORDER_EDGES.items():
            if start == state and end not in seen:
                seen.add(end)
                frontier.append(end)
    return seen


class CommerceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp()
        self.chain = Chain(validators=3)
        self.twin = Chain(validators=3, store=LevelDBStore(self.folder))
        self.merchant = self.chain.register("shop", "merchant")
        self.carrier = self.chain.register("post", "carrier")
        self.actors = [self.chain.register(name) for name in NAMES] + [self.merchant, self.carrier, self.chain.admin]
        for actor in self.actors[:4]:
            self.chain.fund(actor, 50_000)
        self.chain.list_product(self.merchant, sku="tea", price=1_000, stock=20)
        self.chain.ok(self.merchant, "asset.issue", {"symbol": "GEM", "name": "gems", "supply": 100})
        self.issued = {"SHC": asset_get(self.chain.store, "SHC")["supply"] - 10**12, "GEM": 100}
        self.orders: dict[str, str] = {}
        self.batches: list[str] = []
        self.contracts: list[str] = []
        self.replayed = 0

    def teardown(self) -> None:
        self.twin.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _send(self, actor_index: int, kind: str, body: dict, actor=None) -> None:
        actor = actor or self.actors[actor_index % len(self.actors)]
        tx = self.chain.tx(actor, kind, body)
        result = self.chain.block([tx]).results[0]
        event(f"{kind}: {result.code or 'ok'}")
        if result.ok and kind == "order.create":
            self.orders[tx.id] = "created"
        if result.ok and kind == "coupon.issue":
            self.batches.append(tx.id)
        if result.ok and kind == "contract.create":
            self.contracts.append(tx.id)

    actor = st.integers(0, len(NAMES) + 2)
    amount = st.integers(0, 60_000)

    @rule(actor=actor, other=actor, amount=amount, asset=st.sampled_from(["SHC", "GEM"]))
    def transfer(self, actor, other, amount, asset):
        self._send(actor, "funds.transfer", {"to": self.actors[other].address, "amount": amount, "asset": asset})

    @rule(actor=actor, amount=st.integers(1, 10_000))
    def mint_or_burn(self, actor, amount):
        before = asset_get(self.chain.store, "SHC")["supply"]
        self._send(actor, "funds.mint" if actor % 2 else "funds.burn", {"to": self.actors[actor].address, "amount": amount}
                   if actor % 2 else {"amount": amount})
        self.issued["SHC"] += asset_get(self.chain.store, "SHC")["supply"] - before

    @rule(actor=actor, qty=st.integers(1, 8), coupon=st.integers(0, 3))
    def order_create(self, actor, qty, coupon):
        body = {"merchant": self.merchant.address, "items": [{"sku": "tea", "qty": qty}], "shipping_hash": digest("a")}
        if self.batches and coupon:
            body["coupon"] = f"{self.batches[-1]}/{coupon}"
        self._send(actor, "order.create", body)

    @precondition(lambda self: self.orders)
    @rule(actor=actor, right=st.booleans(), pick=st.integers(0, 100), step=st.sampled_from(
        ["order.cancel", "order.ship", "order.confirm", "order.refund", "order.dispute", "order.resolve", "review.post", "deliver"]))
    def order_step(self, actor, right, pick, step):
        order_id = sorted(self.orders)[pick % len(self.orders)]
        party = self._party(order_id, step) if right else None
        bodies = {
            "order.ship": {"carrier": self.carrier.address, "tracking": "t"},
            "order.refund": {"reason": "r", **({"amount": pick * 10 + 1} if pick % 2 else {})},
            "order.dispute": {"reason_hash": digest("d")}, "order.resolve": {"buyer_share_bps": pick * 100},
            "review.post": {"rating": 1 + pick % 5, "text_hash": digest("r")},
        }
        if step == "deliver":
            self._send(actor, "trace.record", {"subject": order_id, "stage": "delivery", "location": "x", "handler": "y",
                                               "data_hash": digest("p")}, party)
        else:
            self._send(actor, step, {"order": order_id, **bodies.get(step, {})}, party)

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 100))
    def order_progress(self, pick):
        """Push an order one legal step forward (ship, deliver, confirm) so deep states are reached."""
        order_id = sorted(self.orders)[pick % len(self.orders)]
        step = {"created": "order.ship", "shipped": "deliver", "delivered": "order.confirm"}.get(self.orders[order_id])
        if step is not None:
            self.order_step(0, True, pick, step)

    def _party(self, order_id: str, step: str):
        if step in ("order.ship", "order.refund"):
            return self.merchant
        if step == "deliver":
            return self.carrier
        if step == "order.resolve":
            return self.chain.admin
        buyer = order_get(self.chain.store, order_id)["buyer"]
        return next(actor for actor in self.actors if actor.address == buyer)

    @rule(actor=actor, right=st.booleans(), total=st.integers(1, 4), quota=st.integers(0, 2), price=st.integers(0, 500))
    def coupon_issue(self, actor, right, total, quota, price):
        self._send(actor, "coupon.issue", {"brand": "b", "content": "c", "discount": {"kind": "bps", "value": 2_000},
                                           "price": price, "total": total, "offline_quota": quota, "valid_from": 0,
                                           "valid_until": self.chain.time_ms + 20 * DAY_MS, "serial_prefix": "S"},
                   self.merchant if right else None)

    @precondition(lambda self: self.batches)
    @rule(actor=actor, kind=st.sampled_from(["coupon.buy", "coupon.record_sale", "coupon.transfer", "coupon.redeem"]),
          n=st.integers(1, 4), other=actor)
    def coupon_step(self, actor, kind, n, other):
        batch = self.batches[-1]
        bodies = {"coupon.buy": {"batch": batch},
                  "coupon.record_sale": {"batch": batch, "buyer": self.actors[other].address, "evidence_hash": digest("e")},
                  "coupon.transfer": {"coupon": f"{batch}/{n}", "to": self.actors[other].address},
                  "coupon.redeem": {"coupon": f"{batch}/{n}"}}
        self._send(actor, kind, bodies[kind])

    @rule(actor=actor, right=st.booleans(), units=st.lists(st.integers(1, 40), min_size=1, max_size=3), price=st.integers(0, 3_000))
    def contract_create(self, actor, right, units, price):
        parties = [{"account": self.actors[index].address, "units": n} for index, n in enumerate(units)]
        self._send(actor, "contract.create", {"asset": "GEM", "price_per_unit": price, "parties": parties,
                                              "settle_at": self.chain.time_ms + 3000, "expires_at": self.chain.time_ms + DAY_MS,
                                              "document_hash": digest("doc")}, self.merchant if right else None)

    @precondition(lambda self: self.contracts)
    @rule(actor=actor, cancel=st.booleans())
    def contract_step(self, actor, cancel):
        self._send(actor, "contract.cancel" if cancel else "contract.sign", {"contract": self.contracts[-1]})

    @rule(days=st.integers(0, 20))
    def time_passes(self, days):
        self.chain.block([], advance_ms=days * DAY_MS + 1)

    @rule(actor=actor, kind=st.sampled_from(["shop.teleport", "params.update", "account.suspend", "account.reinstate"]), value=actor)
    def admin_or_junk(self, actor, kind, value):
        bodies = {"params.update": {"name": "fee_bps", "value": value * 100},
                  "account.suspend": {"account": self.actors[value].address, "reason": "r"},
                  "account.reinstate": {"account": self.actors[value].address}}
        self._send(actor, kind, bodies.get(kind, {}))

    def _records(self, prefix: bytes):
        return [(key, unpack(value)) for key, value in self.chain.store.iterate_prefix(prefix)]

    @invariant()
    def totals_change_only_by_mint_burn_issue(self):
        balances: dict[str, int] = {}
        for key, amount in self._records(BALANCE):
            assert amount > 0
            asset = key[34:].decode()
            balances[asset] = balances.get(asset, 0) + amount
        escrow = sum(order["escrow"] for _, order in self._records(ORDER) if order["state"] in OPEN_STATES)
        assert balances.get("SHC", 0) + escrow == 10**12 + self.issued["SHC"] == asset_get(self.chain.store, "SHC")["supply"]
        assert balances.get("GEM", 0) == 100

    @invariant()
    def counters_and_stock_stay_in_range(self):
        for _, batch in self._records(BATCH):
            sold = batch["sold_online"] + batch["sold_offline"]
            assert batch["sold_online"] <= batch["total"] - batch["offline_quota"] and sold <= batch["total"]
            assert batch["redeemed"] <= sold
        for _, product in self._records(PRODUCT):
            assert product["stock"] >= 0

    @invariant()
    def orders_move_only_along_edges(self):
        for order_id, previous in sorted(self.orders.items()):
            current = order_get(self.chain.store, order_id)["state"]
            assert current in _reachable(previous)
            self.orders[order_id] = current
        for contract_id in self.contracts:
            assert contract_get(self.chain.store, contract_id)["state"] in (
                "open", "signed", "executed", "failed", "cancelled", "expired")

    @invariant()
    def leveldb_twin_gives_the_same_root(self):
        for txs, time_ms in self.chain.log[self.replayed:]:
            self.twin.replay(txs, time_ms)
        self.replayed = len(self.chain.log)
        assert self.twin.root == self.chain.root


CommerceMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestCommerce = CommerceMachine.TestCase
