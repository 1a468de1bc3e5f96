"""Body shapes (commerce/kinds.py) agree with the block executor.

A world is built where one valid body of every kind succeeds. Each case
changes such a body and runs it on a throwaway overlay of that world, so
every case sees the same state and the handlers get past their state checks
to the field checks. With one change, admission and the block refuse the
same bodies with the same code; with several, a body admission accepts is
never refused by the block for its shape. A shape's codes are the ``body.*``
codes and the few a field's value alone decides (``SHAPE_VALUE_CODES``).
Admission is given the chain's ``list_length_max`` (default 100), as the
node gives it from state.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.constants import MAX_UINT64, MIN_INT64
from chain.genesis import DEFAULT_PARAMS
from chain.keys import KeyPair
from chain.results import TxResult
from chain.transaction import build_transaction
from commerce.body import is_decimal, is_hex_id
from commerce.dispatch import HANDLERS
from commerce.errors import TxRejected
from commerce.executor import get_nonce, process_transaction
from commerce.kinds import BODY_SHAPES, check_body_shape
from commerce.overlay import Overlay
from tests.commerce.harness import CHAIN_ID, DAY_MS, Chain, digest, make_key


def build_world() -> tuple[Chain, dict[str, tuple[KeyPair, dict[str, Any]]]]:
    """The chain, and for every kind a sender and a body that succeed on it."""
    chain = Chain()
    admin = chain.admin
    merchant, carrier = chain.register("merchant", "merchant"), chain.register("carrier", "carrier")
    agent = chain.register("agent", "agent")
    buyer, plain = chain.register("buyer", referrer=agent.address), chain.register("plain")
    applicant, banned = chain.register("applicant"), chain.register("banned")
    chain.ok(applicant, "account.request_role", {"role": "merchant", "profile_hash": digest("applicant")})
    chain.ok(admin, "account.suspend", {"account": banned.address, "reason": "spam"})
    chain.fund(buyer, 10**9)
    chain.list_product(merchant, "tea", price=10_000, stock=100)
    chain.ok(merchant, "asset.issue", {"symbol": "TOK", "name": "Token", "supply": 1_000})
    far = chain.time_ms + 365 * DAY_MS
    batch = chain.ok(merchant, "coupon.issue", {
        "brand": "Tea House", "content": "10% off", "discount": {"kind": "bps", "value": 1_000}, "price": 0, "total": 10,
        "valid_from": chain.time_ms, "valid_until": far, "serial_prefix": "TH"}).id
    chain.ok(buyer, "coupon.buy", {"batch": batch})
    coupon = f"{batch}/1"
    created, delivered = chain.order(buyer, merchant), chain.order(buyer, merchant)
    disputed, settled = chain.order(buyer, merchant), chain.order(buyer, merchant)
    for order in (delivered, disputed, settled):
        chain.ok(merchant, "order.ship", {"order": order, "carrier": carrier.address, "tracking": "TRK"})
    for order in (delivered, settled):
        chain.ok(carrier, "trace.record", {"subject": order, "stage": "delivery", "location": "door", "handler": "courier",
                                           "data_hash": digest("signed")})
    chain.ok(buyer, "order.dispute", {"order": disputed, "reason_hash": digest("broken")})
    chain.ok(buyer, "order.confirm", {"order": settled})
    lot = f"{merchant.address}/tea/lot-1"
    chain.ok(merchant, "trace.record", {"subject": lot, "stage": "procurement", "location": "farm", "handler": "picker",
                                        "data_hash": digest("picked")})
    contract_body = {"asset": "TOK", "price_per_unit": 5, "parties": [{"account": buyer.address, "units": 2}],
                     "settle_at": far, "expires_at": far, "document_hash": digest("terms")}
    contract = chain.ok(merchant, "contract.create", contract_body).id
    bases = {
        "account.register": (make_key("newcomer"), {"name": "newcomer", "referrer": agent.address}),
        "account.request_role": (plain, {"role": "carrier", "profile_hash": digest("plain")}),
        "account.approve": (admin, {"account": applicant.address, "role": "merchant"}),
        "account.suspend": (admin, {"account": plain.address, "reason": "spam"}),
        "account.reinstate": (admin, {"account": banned.address, "reason": "appeal granted"}),
        "funds.mint": (admin, {"to": buyer.address, "amount": 100}),
        "funds.burn": (buyer, {"amount": 1, "asset": "SHC"}),
        "funds.transfer": (buyer, {"to": merchant.address, "amount": 1, "asset": "SHC"}),
        "asset.issue": (merchant, {"symbol": "NEW", "name": "New token", "supply": 10}),
        "product.list": (merchant, {"sku": "cake", "title": "Cake", "price": 500, "stock": 3, "category": "food",
                                    "attrs": {"size": "L"}}),
        "product.update": (merchant, {"sku": "tea", "price": 9_000, "attrs": {"leaf": "green"}}),
        "order.create": (buyer, {"merchant": merchant.address, "items": [{"sku": "tea", "qty": 2}],
                                 "shipping_hash": digest("addr"), "coupon": coupon}),
        "order.cancel": (buyer, {"order": created}),
        "order.ship": (merchant, {"order": created, "carrier": carrier.address, "tracking": "TRK-1"}),
        "order.confirm": (buyer, {"order": delivered}),
        "order.refund": (merchant, {"order": delivered, "reason": "damaged", "amount": 1}),
        "order.dispute": (buyer, {"order": delivered, "reason_hash": digest("late")}),
        "order.resolve": (admin, {"order": disputed, "buyer_share_bps": 5_000}),
        "review.post": (buyer, {"order": settled, "rating": 4, "text_hash": digest("nice")}),
        "coupon.issue": (merchant, {"brand": "Tea House", "content": "5 off", "discount": {"kind": "amount", "value": 5},
                                    "price": 0, "total": 5, "valid_from": chain.time_ms, "valid_until": far,
                                    "serial_prefix": "TH2", "offline_quota": 2, "skus": ["tea"]}),
        "coupon.buy": (buyer, {"batch": batch}),
        "coupon.record_sale": (merchant, {"batch": batch, "buyer": plain.address, "evidence_hash": digest("receipt")}),
        "coupon.transfer": (buyer, {"coupon": coupon, "to": plain.address}),
        "coupon.redeem": (buyer, {"coupon": coupon}),
        "trace.record": (merchant, {"subject": lot, "stage": "production", "location": "plant", "handler": "roaster",
                                    "data_hash": digest("roasted")}),
        "trace.correct": (merchant, {"subject": lot, "event": 0, "reason": "typo", "data_hash": digest("fixed")}),
        "contract.create": (merchant, contract_body),
        "contract.sign": (buyer, {"contract": contract}),
        "contract.cancel": (merchant, {"contract": contract}),
        "params.update": (admin, {"name": "fee_bps", "value": 150}),
    }
    return chain, bases


WORLD, BASES = build_world()
KINDS = sorted(BASES)
FIELD_NAMES = sorted({name for shape in BODY_SHAPES.values() for name in (*shape.required, *shape.optional)} | {"memo"})
NESTED_KEYS = ("sku", "qty", "account", "units", "kind", "value", "size", "memo")
# Values near the edges of the field checks: names, text, ids, coupons, subjects, digests.
EDGE_TEXTS = ("", "x" * 64, "x" * 65, "x" * 256, "x" * 257, "é" * 128, "é" * 129, "s" * 201, "ab" * 32, "AB" * 32,
              "tea", "bps", "amount", "ab" * 32 + "/1", "ab" * 32 + "/01", "a/b/c", "SHC")
SCALARS = st.one_of(
    st.integers(0, 2**16), st.sampled_from([0, 1, 5, 10_000, 10_001]), st.integers(MIN_INT64, -1),
    st.integers(2**63, MAX_UINT64), st.just(MAX_UINT64), st.text(max_size=70), st.sampled_from(EDGE_TEXTS),
    st.binary(max_size=40), st.sampled_from([bytes(32), bytes(31)]), st.booleans(),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(NESTED_KEYS), SCALARS, max_size=3),
                   st.sampled_from([[{"sku": "tea", "qty": 0}], [{"account": "ab" * 32, "units": 1}],
                                    {"kind": "bps", "value": 10_001}, {"kind": "amount", "value": 0}]).map(copy.deepcopy))
# One of each type, and values at the edges of the checks, for the one-change test.
REPRESENTATIVES = (0, 1, -1, 5, 10_000, 10_001, MIN_INT64, 2**63, MAX_UINT64, True, False, *EDGE_TEXTS, b"", bytes(31),
                   bytes(32), [], [1], ["tea"], ["x" * 65], [{"sku": "tea", "qty": 0}], [{"account": "ab" * 32, "units": 1}], {},
                   {"size": "L"}, {"size": 5}, {"kind": "bps", "value": 10_001}, {"kind": "amount", "value": 0})


def execute(key: KeyPair, kind: str, body: dict[str, Any]) -> TxResult:
    """Run one transaction on a throwaway overlay: the world never changes."""
    tx = build_transaction(key, CHAIN_ID, get_nonce(WORLD.store, key.public_key) + 1, kind, body)
    return process_transaction(Overlay(WORLD.store), tx, WORLD.time_ms + 1_000)


LIST_LENGTH_MAX = DEFAULT_PARAMS["list_length_max"]
# Codes a field's value alone decides, outside body.*: the handler's own check of that field raises them.
SHAPE_VALUE_CODES = {"account.bad_role", "trace.bad_stage", "params.unknown"}


def shape_code(result: TxResult) -> str | None:
    """The block's code when it is one a body shape decides."""
    return result.code if result.code.startswith("body.") or result.code in SHAPE_VALUE_CODES else None


def admission_code(kind: str, body: dict[str, Any]) -> str | None:
    try:
        check_body_shape(kind, body, LIST_LENGTH_MAX)
    except TxRejected as error:
        return error.code
    return None


def _mutate_inside(draw: Any, value: dict[str, Any] | list[Any]) -> None:
    """Drop, add or replace one entry of a map or list, or go one level deeper."""
    slot = draw(st.sampled_from(sorted(value))) if isinstance(value, dict) else draw(st.integers(0, len(value) - 1))
    action = draw(st.sampled_from(("replace", "drop", "add", "descend")))
    inner = value[slot]
    if action == "descend" and isinstance(inner, (dict, list)) and inner:
        _mutate_inside(draw, inner)
    elif action == "drop":
        del value[slot]
    elif action == "add" and isinstance(value, dict):
        value[draw(st.sampled_from(NESTED_KEYS))] = draw(VALUES)
    elif action == "add":
        value.append(copy.deepcopy(inner))
    else:
        value[slot] = draw(VALUES)


def _mutate(draw: Any, kind: str, body: dict[str, Any]) -> None:
    """One mutation; new values are drawn more often than names are dropped or added."""
    shape = BODY_SHAPES[kind]
    known = (*shape.required, *shape.optional)
    actions = ["unknown"] + (["drop"] + ["replace"] * 4 if body else [])
    actions += ["inside"] * 3 if any(isinstance(value, (dict, list)) and value for value in body.values()) else []
    actions += ["optional"] * 2 if any(name not in body for name in shape.optional) else []
    action = draw(st.sampled_from(actions))
    if action == "unknown":
        body[draw(st.sampled_from([name for name in FIELD_NAMES if name not in known]))] = draw(VALUES)
    elif action == "drop":
        del body[draw(st.sampled_from(sorted(body)))]
    elif action == "replace":
        body[draw(st.sampled_from(sorted(body)))] = draw(VALUES)
    elif action == "inside":
        _mutate_inside(draw, body[draw(st.sampled_from(sorted(name for name, value in body.items()
                                                                   if isinstance(value, (dict, list)) and value)))])
    else:
        body[draw(st.sampled_from([name for name in shape.optional if name not in body]))] = draw(VALUES)


@st.composite
def mutated_bodies(draw: Any) -> tuple[str, dict[str, Any], int]:
    """A kind, its valid body after 1 to 3 random mutations, and how many."""
    kind = draw(st.sampled_from(KINDS))
    body = copy.deepcopy(BASES[kind][1])
    count = 1 if draw(st.booleans()) else draw(st.integers(2, 3))
    for _ in range(count):
        _mutate(draw, kind, body)
    return kind, body, count


def test_shapes_cover_exactly_the_handled_kinds():
    assert set(BODY_SHAPES) == set(HANDLERS)
    assert set(BASES) == set(HANDLERS)


def test_unknown_kind_is_refused_as_the_block_refuses_it():
    with pytest.raises(TxRejected) as raised:
        check_body_shape("shop.teleport", {})
    assert raised.value.code == "tx.unknown_kind"
    result = execute(make_key("stranger"), "shop.teleport", {})
    assert (result.ok, result.code, result.message) == (False, "tx.unknown_kind", raised.value.message)


@pytest.mark.parametrize("kind", KINDS)
def test_valid_body_is_admitted_and_applied(kind):
    key, body = BASES[kind]
    check_body_shape(kind, body)
    result = execute(key, kind, body)
    assert result.ok, (result.code, result.message)


@pytest.mark.parametrize(("kind", "body", "code"), [
    ("product.update", {"sku": "tea"}, "body.missing_field"),
    ("funds.mint", {"to": make_key("x").address}, "body.missing_field"),
    ("coupon.redeem", {"coupon": "ab" * 32 + "/1", "memo": "hi"}, "body.unknown_field"),
    ("order.create", {"merchant": make_key("x").address, "items": [{"sku": "tea", "qty": -1}], "shipping_hash": bytes(32)},
     "body.invalid"),
    ("contract.create", {**BASES["contract.create"][1], "parties": [{"account": "AB" * 32, "units": 1}]}, "body.invalid"),
    ("review.post", {**BASES["review.post"][1], "rating": 6}, "body.invalid"),
    ("trace.record", {**BASES["trace.record"][1], "subject": "s" * 201}, "body.invalid"),
    ("order.create", {**BASES["order.create"][1], "items": [{"sku": "tea", "qty": 1}] * (LIST_LENGTH_MAX + 1)},
     "body.invalid"),
    ("product.list", {**BASES["product.list"][1], "attrs": {f"k{i}": "v" for i in range(LIST_LENGTH_MAX + 1)}},
     "body.invalid"),
    ("account.request_role", {**BASES["account.request_role"][1], "role": "admin"}, "account.bad_role"),
    ("trace.record", {**BASES["trace.record"][1], "stage": "teleport"}, "trace.bad_stage"),
    ("params.update", {"name": "no_such_param", "value": 1}, "params.unknown"),
])
def test_malformed_body_is_refused_with_the_blocks_code(kind, body, code):
    assert admission_code(kind, body) == code
    result = execute(BASES[kind][0], kind, body)
    assert (result.ok, result.code) == (False, code)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a body: each field, and each entry of its maps and lists, at any depth."""
    slots = sorted(value) if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else ()
    return [path for slot in slots for path in [(*prefix, slot), *_paths(value[slot], (*prefix, slot))]]


def _replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    container = body
    for slot in path[:-1]:
        container = container[slot]
    container[path[-1]] = copy.deepcopy(value)
    return body


@pytest.mark.parametrize("kind", KINDS)
def test_one_bad_value_anywhere_is_refused_by_both_or_neither(kind):
    """Each field, present or optional, and each entry inside one, set to each representative value in turn."""
    key, base = BASES[kind]
    paths = _paths(base) + [(name,) for name in BODY_SHAPES[kind].optional if name not in base]
    for path in paths:
        for value in REPRESENTATIVES:
            body = _replaced(base, path, value)
            result = execute(key, kind, body)
            block_body_code = shape_code(result)
            assert admission_code(kind, body) == block_body_code, (path, value, result.code, result.message)


@settings(max_examples=1_000)
@given(case=mutated_bodies())
def test_admission_and_block_agree_on_malformed_bodies(case):
    kind, body, count = case
    refused = admission_code(kind, body)
    result = execute(BASES[kind][0], kind, body)
    block_body_code = shape_code(result)
    # (a) a body admission accepts is never refused by the block for its shape
    assert refused is not None or block_body_code is None, (result.code, result.message)
    # (b) a body the block refuses for its shape is refused by admission
    assert block_body_code is None or refused is not None
    if count == 1:
        # One mutation of a body that succeeds: the handler gets past its state checks to the mutated field, so a field
        # admission refuses is refused by the block too, with the same code (admission is no stricter than the block).
        assert refused == block_body_code, (refused, result.code, result.message)


HEX_DIGITS = "0123456789abcdef"
HEX_IDS = st.text(alphabet=HEX_DIGITS, min_size=64, max_size=64)


@st.composite
def near_hex_ids(draw):
    """A 64-digit id with one character replaced, dropped or added."""
    text = draw(HEX_IDS)
    at = draw(st.integers(0, 63))
    other = draw(st.sampled_from("ABCDEFgx0\u0660 \n"))
    return draw(st.sampled_from([text[:at] + other + text[at + 1:], text[:at] + text[at + 1:], text[:at] + other + text[at:]]))


@given(st.one_of(HEX_IDS, near_hex_ids(), st.text(), st.binary(), st.integers()))
def test_hex_id_check_agrees_with_a_character_by_character_reference(value):
    reference = isinstance(value, str) and len(value) == 64 and all(character in HEX_DIGITS for character in value)
    assert is_hex_id(value) is reference


@given(st.one_of(st.text(alphabet="0123456789\u00b2\u0663\uff11x", max_size=8), st.text(), st.integers()))
def test_decimal_check_takes_ascii_digits_only(value):
    """str.isdigit takes "²" (which int refuses) and "٣" (which int reads as 3)."""
    reference = isinstance(value, str) and value != "" and all(character in "0123456789" for character in value)
    assert is_decimal(value) is reference
