"""Canonical encoding: the identity on every allowed value, and every
non-canonical variant refused with its code."""
import msgpack
import pytest
from hypothesis import assume, given, strategies as st

from chain.constants import MAX_NESTING_DEPTH
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
def test_pack_then_unpack_is_the_identity(value):
    assert unpack(pack(value)) == value


@given(VALUES)
def test_pack_agrees_with_an_independent_encoder(value):
    assert pack(value) == OracleEncoder().encode(value)


@given(st.dictionaries(st.text(max_size=8), st.integers(0, 9), min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_pack_ignores_insertion_order(mapping, rng):
    items = list(mapping.items())
    rng.shuffle(items)
    assert pack(dict(items)) == pack(mapping)


@given(VALUES, st.integers(min_value=0, max_value=10_000))
def test_any_widened_integer_or_length_is_refused(value, choice):
    counter = OracleEncoder()
    counter.encode(value)
    assume(counter.widenable_seen > 0)
    widened = OracleEncoder(widen=choice % counter.widenable_seen)
    data = widened.encode(value)
    assert widened.applied
    assert code_of(data) == "encoding.non_canonical"


@given(VALUES, st.integers(min_value=0, max_value=10_000))
def test_any_unsorted_map_is_refused(value, choice):
    counter = OracleEncoder()
    counter.encode(value)
    assume(counter.maps_seen > 0)
    unsorted = OracleEncoder(unsort_map=choice % counter.maps_seen)
    data = unsorted.encode(value)
    assume(unsorted.applied)
    assert code_of(data) == "encoding.unsorted_keys"


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_nothing_but_decode_error(data):
    try:
        unpack(data)
    except DecodeError:
        pass


@given(VALUES, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(value, extra):
    assert code_of(pack(value) + extra) == "encoding.trailing_bytes"


@given(VALUES)
def test_truncated_input_is_refused(value):
    data = pack(value)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            unpack(data[:cut])


@pytest.mark.parametrize("value, code", [
    ({"a": 1.5}, "encoding.float"),
    ([msgpack.ExtType(5, b"x")], "encoding.ext_type"),
    ({"a": None}, "encoding.nil"),
    ({1: 2}, "encoding.key_type"),
    ({b"k": 2}, "encoding.key_type"),
])
def test_values_outside_the_allowed_types_are_refused(value, code):
    assert code_of(msgpack.packb(value, use_bin_type=True, strict_types=False)) == code


@pytest.mark.parametrize("raw, code", [
    (b"\xca\x3f\x80\x00\x00", "encoding.float"),  # float 32
    (b"\xcb" + bytes(8), "encoding.float"),  # float 64
    (b"\xc0", "encoding.nil"),
    (b"\xd4\x01\x00", "encoding.ext_type"),  # fixext 1
    (b"\xc7\x01\x05\x00", "encoding.ext_type"),  # ext 8
    (b"\xd6\xff" + bytes(4), "encoding.ext_type"),  # a timestamp
    (b"\x82\xa1a\x01\xa1a\x02", "encoding.duplicate_key"),
    (b"\xa2\xff\xfe", "encoding.malformed"),  # not UTF-8
    (b"\xc1", "encoding.malformed"),  # never used byte
])
def test_refused_encodings(raw, code):
    assert code_of(raw) == code


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_limit_is_the_same_for_encoder_and_decoder():
    assert unpack(pack(nested(MAX_NESTING_DEPTH))) == nested(MAX_NESTING_DEPTH)
    with pytest.raises(ValueError):
        pack(nested(MAX_NESTING_DEPTH + 1))
    assert code_of(msgpack.packb(nested(MAX_NESTING_DEPTH + 1))) == "encoding.too_deep"
    assert code_of(b"\x91" * 5000 + b"\x01") == "encoding.too_deep"


def test_size_cap_is_checked_before_decoding():
    data = pack(b"x" * 100)
    assert unpack(data, max_bytes=len(data)) == b"x" * 100
    assert code_of(data, max_bytes=len(data) - 1) == "encoding.too_large"


@pytest.mark.parametrize("value", [1.0, None, {1: 2}, set(), 2**64, -(2**63) - 1])
def test_encoder_refuses_what_the_protocol_does_not_allow(value):
    with pytest.raises((TypeError, ValueError)):
        pack(value)
