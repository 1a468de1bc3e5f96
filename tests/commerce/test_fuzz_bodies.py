"""Random bodies for every kind: each is either applied or refused with a code, never a crash."""
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.dispatch import HANDLERS
from commerce.queries import coupon_get, order_get, product_get, trace_get
from tests.commerce.harness import Chain, make_key

FIELDS = ("to", "amount", "asset", "name", "referrer", "role", "profile_hash", "account", "reason", "symbol", "supply", "sku",
          "title", "price", "stock", "category", "attrs", "merchant", "items", "coupon", "shipping_hash", "order", "carrier",
          "tracking", "reason_hash", "buyer_share_bps", "rating", "text_hash", "batch", "buyer", "evidence_hash", "subject",
          "stage", "location", "handler", "data_hash", "event", "contract", "parties", "settle_at", "expires_at",
          "document_hash", "price_per_unit", "value", "brand", "content", "discount", "total", "offline_quota",
          "valid_from", "valid_until", "serial_prefix", "skus")
SCALARS = st.one_of(st.integers(-1, 2**64 - 1), st.booleans(), st.text(max_size=70), st.binary(max_size=40),
                    st.sampled_from(["ab" * 32, "zz" * 32, "ab" * 32 + "/1", "ab" * 32 + "/99999999999999999999999", "SHC",
                                     "merchant", "delivery", "fee_bps"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(FIELDS + ("kind", "qty", "units")), inner, max_size=3)),
                      max_leaves=6)
BODIES = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=8)
CHAIN = Chain()
SENDERS = [CHAIN.admin, CHAIN.register("fuzz-merchant", "merchant"), make_key("stranger")]


@settings(max_examples=300)
@given(kind=st.sampled_from(sorted(HANDLERS)), body=BODIES, sender=st.sampled_from(range(len(SENDERS))))
def test_random_body_is_applied_or_refused_with_a_code(kind, body, sender):
    result, _ = CHAIN.run(SENDERS[sender], kind, body)
    assert result.ok or result.code


@given(name=st.text(max_size=300))
def test_queries_never_crash_on_any_name(name):
    for getter in (order_get, product_get, coupon_get, trace_get):
        getter(CHAIN.store, name)
