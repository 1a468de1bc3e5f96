"""Canonical encoding against an independent plain encoder: the same bytes
for every allowed value, and maps unsorted at any depth refused."""
import pytest
from hypothesis import assume, given, strategies as st

from chain.encoding import pack, unpack, unpack_item_trusted
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


@st.composite
def lists_with_a_path(draw):
    """A list of values and a path of indexes into it, each step into a list."""
    value = draw(st.lists(VALUES, min_size=1, max_size=8))
    path, inner = [], value
    while True:
        path.append(draw(st.integers(0, len(inner) - 1)))
        if not (isinstance(inner[path[-1]], list) and inner[path[-1]] and draw(st.booleans())):
            return value, path
        inner = inner[path[-1]]


@given(lists_with_a_path())
def test_an_item_read_alone_is_the_item_of_the_whole_decode(case):
    value, path = case
    expected = unpack(pack(value))
    for index in path:
        expected = expected[index]
    assert unpack_item_trusted(pack(value), *path) == expected
