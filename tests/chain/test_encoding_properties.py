"""Canonical encoding against an independent plain encoder: the same bytes
for every allowed value, and maps unsorted at any depth refused."""
import pytest
from hypothesis import assume, given, strategies as st

from chain.encoding import pack, unpack
from chain.errors import DecodeError
from tests.chain.msgpack_oracle import OracleEncoder

SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=40)
    | st.binary(max_size=300)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=20) | st.dictionaries(st.text(max_size=12), children, max_size=20),
    max_leaves=60,
)


def code_of(data: bytes, **kwargs) -> str:
    with pytest.raises(DecodeError) as error:
        unpack(data, **kwargs)
    return error.value.code


@given(VALUES)
def test_pack_agrees_with_an_independent_encoder(value):
    assert pack(value) == OracleEncoder().encode(value)


@given(VALUES, st.integers(min_value=0, max_value=10_000))
def test_any_unsorted_map_is_refused(value, choice):
    counter = OracleEncoder()
    counter.encode(value)
    assume(counter.maps_seen > 0)
    unsorted = OracleEncoder(unsort_map=choice % counter.maps_seen)
    data = unsorted.encode(value)
    assume(unsorted.applied)
    assert code_of(data) == "encoding.unsorted_keys"
