"""Search terms (commerce/search.py): a serial splits back into the prefix
and number it was made of, whatever dashes the prefix holds; only
committed, successful transactions add terms."""
from hypothesis import given
from hypothesis import strategies as st

from chain.results import TxResult
from commerce.search import CREATED, SERIAL_PREFIX, TRACKING, created_at, newest_first, search_terms, split_serial
from tests.commerce.harness import Chain

prefixes = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)


@given(prefix=prefixes, number=st.integers(0, 2**64 - 1))
def test_a_serial_splits_into_its_prefix_and_number(prefix, number):
    assert split_serial(f"{prefix}-{number}") == (prefix, number)


def test_what_is_not_a_serial():
    not_serials = ("TEA", "-4", "TEA-", "TEA-x", "TEA-" + "9" * 21, "TEA-\u00b2", "TEA-\u0663")
    assert [split_serial(text) for text in not_serials] == [None] * len(not_serials)


def test_only_successful_issues_and_shipments_add_terms():
    chain = Chain()
    merchant = chain.register("shop", "merchant")
    issue = chain.tx(merchant, "coupon.issue", {"serial_prefix": "TEA-X"})
    ship = chain.tx(merchant, "order.ship", {"order": "ab" * 32, "tracking": "T 1", "carrier": merchant.address})
    ok, failed = TxResult(True), TxResult(False, "order.unknown", "no such order")
    assert search_terms(issue, ok, 7, 2) == [(SERIAL_PREFIX, "TEA-X", issue.id),
                                             (CREATED, "coupon-batch", f"{newest_first(7, 2)}/{issue.id}")]
    assert search_terms(ship, ok, 7, 3) == [(TRACKING, "T 1", "ab" * 32)]
    assert search_terms(ship, failed, 7, 3) == [] and search_terms(chain.tx(merchant, "funds.transfer", {}), ok, 7, 4) == []
    order = chain.tx(merchant, "order.create", {})
    [(kind, term, found)] = search_terms(order, ok, 9, 0)
    assert (kind, term) == (CREATED, "order") and created_at(found) == (9, order.id)


places = st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32))


@given(places, places)
def test_newest_first_sorts_the_later_place_first(a, b):
    assert (newest_first(*a) < newest_first(*b)) == (a > b)
    assert created_at(f"{newest_first(*a)}/x") == (a[0], "x")
