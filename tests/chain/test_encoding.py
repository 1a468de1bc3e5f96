"""Canonical MessagePack: round trips, determinism, and rejection of every
non-canonical variant with its stable code."""
import struct

import msgpack
import pytest
from hypothesis import given, strategies as st

from chain.constants import MAX_NESTING_DEPTH, MAX_UINT64, MIN_INT64
from chain.encoding import pack, pack_bin_pairs, unpack
from chain.errors import DecodeError

ints = st.integers(min_value=MIN_INT64, max_value=MAX_UINT64)
scalars = st.one_of(st.booleans(), ints, st.text(max_size=40), st.binary(max_size=40))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=25,
)


def nest(depth, leaf=1):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def code_of(data, **kwargs):
    with pytest.raises(DecodeError) as caught:
        unpack(data, **kwargs)
    return caught.value.code


@given(values)
def test_pack_then_unpack_is_identity(value):
    assert unpack(pack(value)) == value


@given(values)
def test_pack_is_deterministic_and_matches_reference_msgpack(value):
    assert pack(value) == pack(value)
    # msgpack with use_bin_type picks the smallest forms; only key order differs.
    def sort_maps(v):
        if isinstance(v, dict):
            return {k: sort_maps(v[k]) for k in sorted(v)}
        if isinstance(v, list):
            return [sort_maps(x) for x in v]
        return v
    assert pack(value) == msgpack.packb(sort_maps(value), use_bin_type=True)


@given(st.dictionaries(st.text(max_size=8), ints, min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_pack_ignores_dict_insertion_order(mapping, rng):
    items = list(mapping.items())
    rng.shuffle(items)
    assert pack(dict(items)) == pack(dict(reversed(items))) == pack(mapping)


def test_nesting_at_the_limit_round_trips_and_one_deeper_is_refused():
    assert unpack(pack(nest(MAX_NESTING_DEPTH))) == nest(MAX_NESTING_DEPTH)
    with pytest.raises(ValueError):
        pack(nest(MAX_NESTING_DEPTH + 1))
    raw = b"\x91" * (MAX_NESTING_DEPTH + 1) + b"\x01"
    assert code_of(raw) == "encoding.too_deep"
    # deeper than msgpack's own stack limit: its StackError becomes too_deep
    assert code_of(b"\x91" * 5000 + b"\x01") == "encoding.too_deep"


def test_pack_refuses_values_outside_the_protocol():
    for bad in (1.5, None, {1: 2}, MAX_UINT64 + 1, MIN_INT64 - 1, object()):
        with pytest.raises((TypeError, ValueError)):
            pack(bad)


# --- non-canonical variants -------------------------------------------------

def wide_int_forms(n):
    """Every encoding of n that is longer than the minimal one."""
    forms = []
    if 0 <= n:
        for fmt, tag, top in ((">B", 0xCC, 0xFF), (">H", 0xCD, 0xFFFF), (">I", 0xCE, 0xFFFFFFFF), (">Q", 0xCF, MAX_UINT64)):
            if n <= top:
                forms.append(bytes([tag]) + struct.pack(fmt, n))
    if n <= 2**63 - 1:
        for fmt, tag, lo, hi in ((">b", 0xD0, -128, 127), (">h", 0xD1, -2**15, 2**15 - 1), (">i", 0xD2, -2**31, 2**31 - 1), (">q", 0xD3, MIN_INT64, 2**63 - 1)):
            if lo <= n <= hi:
                forms.append(bytes([tag]) + struct.pack(fmt, n))
    minimal = pack(n)
    return [form for form in forms if form != minimal and len(form) >= len(minimal)]


def length_header_forms(kind, length):
    heads = {"str": (0xD9, 0xDA, 0xDB), "bin": (0xC4, 0xC5, 0xC6), "array": (None, 0xDC, 0xDD), "map": (None, 0xDE, 0xDF)}[kind]
    out = []
    for tag, fmt, top in zip(heads, (">B", ">H", ">I"), (0xFF, 0xFFFF, 0xFFFFFFFF)):
        if tag is not None and length <= top:
            out.append(bytes([tag]) + struct.pack(fmt, length))
    return out


class Encoded:
    """A canonical encoding with the span of every int and length header."""

    def __init__(self):
        self.parts = []  # (kind, payload, bytes)

    def emit(self, value):
        if isinstance(value, bool):
            self.parts.append(("raw", None, pack(value)))
        elif isinstance(value, int):
            self.parts.append(("int", value, pack(value)))
        elif isinstance(value, (str, bytes)):
            encoded = pack(value)
            payload = value.encode() if isinstance(value, str) else value
            self.parts.append(("str" if isinstance(value, str) else "bin", len(payload), encoded[: len(encoded) - len(payload)]))
            self.parts.append(("raw", None, payload))
        elif isinstance(value, list):
            self.parts.append(("array", len(value), _container_header(value)))
            for item in value:
                self.emit(item)
        else:
            self.parts.append(("map", len(value), _container_header(value)))
            for key in sorted(value):
                self.emit(key)
                self.emit(value[key])
        return self

    def variants(self):
        for position, (kind, payload, encoded) in enumerate(self.parts):
            if kind == "int":
                alternatives = wide_int_forms(payload)
            elif kind in ("str", "bin", "array", "map"):
                alternatives = [h for h in length_header_forms(kind, payload) if len(h) > len(encoded)]
            else:
                continue
            for alternative in alternatives:
                yield b"".join(p[2] for p in self.parts[:position]) + alternative + b"".join(p[2] for p in self.parts[position + 1:])


def _container_header(container):
    if isinstance(container, dict):
        return _header_for(0x80, 0xDE, 0xDF, len(container))
    return _header_for(0x90, 0xDC, 0xDD, len(container))


def _header_for(fix, tag16, tag32, length):
    if length < 16:
        return bytes([fix | length])
    if length <= 0xFFFF:
        return bytes([tag16]) + struct.pack(">H", length)
    return bytes([tag32]) + struct.pack(">I", length)


@given(values)
def test_span_model_reproduces_the_canonical_encoding(value):
    encoded = Encoded().emit(value)
    assert b"".join(part[2] for part in encoded.parts) == pack(value)


@given(values, st.data())
def test_widening_any_int_or_length_header_is_refused(value, data):
    variants = list(Encoded().emit(value).variants())
    if not variants:
        return
    variant = data.draw(st.sampled_from(variants))
    assert code_of(variant) == "encoding.non_canonical"


@pytest.mark.parametrize("n", [0, 1, 5, 127, 128, 255, 256, 65535, 65536, 2**32, -1, -32, -33, -128, -129, -2**15, -2**31 - 1, MIN_INT64, MAX_UINT64])
def test_every_wider_int_form_is_refused(n):
    for form in wide_int_forms(n):
        assert code_of(form) == "encoding.non_canonical", form.hex()
    assert unpack(pack(n)) == n


def test_one_in_every_wider_form_is_refused():
    for form in (b"\xcc\x01", b"\xcd\x00\x01", b"\xce\x00\x00\x00\x01", b"\xcf" + (1).to_bytes(8, "big"),
                 b"\xd0\xff", b"\xd1\xff\xff", b"\xd2\xff\xff\xff\xff", b"\xd3" + b"\xff" * 8):
        assert code_of(form) == "encoding.non_canonical"


@given(values, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(value, tail):
    assert code_of(pack(value) + tail) == "encoding.trailing_bytes"


@given(values.filter(lambda v: len(pack(v)) > 1), st.data())
def test_truncated_input_is_refused(value, data):
    raw = pack(value)
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert code_of(raw[:cut]) == "encoding.malformed"


@given(values)
def test_input_over_max_bytes_is_refused(value):
    raw = pack(value)
    assert unpack(raw, max_bytes=len(raw)) == value
    assert code_of(raw, max_bytes=len(raw) - 1) == "encoding.too_large"


@given(st.dictionaries(st.text(max_size=6), ints, min_size=2, max_size=6), st.data())
def test_unsorted_and_duplicate_keys_are_refused(mapping, data):
    keys = sorted(mapping)
    i = data.draw(st.integers(0, len(keys) - 2))
    swapped = keys[:i] + [keys[i + 1], keys[i]] + keys[i + 2:]
    body = b"".join(pack(k) + pack(mapping[k]) for k in swapped)
    assert code_of(_header_for(0x80, 0xDE, 0xDF, len(keys)) + body) == "encoding.unsorted_keys"
    duplicated = keys[: i + 1] + [keys[i]] + keys[i + 1:]
    body = b"".join(pack(k) + pack(mapping[k]) for k in duplicated)
    assert code_of(_header_for(0x80, 0xDE, 0xDF, len(duplicated)) + body) == "encoding.duplicate_key"


@pytest.mark.parametrize("raw", [b"\x81\x01\x01", b"\x81\xc4\x01a\x01", b"\x81\xc3\x01"])
def test_non_str_keys_are_refused(raw):
    assert code_of(raw) == "encoding.key_type"


@given(values, st.sampled_from([(b"\xc0", "encoding.nil"), (b"\xca" + struct.pack(">f", 1.5), "encoding.float"),
                                (b"\xcb" + struct.pack(">d", 1.5), "encoding.float"),
                                (b"\xd4\x01\x00", "encoding.ext_type"), (b"\xd8\x01" + bytes(16), "encoding.ext_type"),
                                (b"\xc7\x02\x01ab", "encoding.ext_type")]))
def test_nil_floats_and_ext_anywhere_are_refused(value, forbidden):
    encoding, code = forbidden
    assert code_of(encoding) == code
    assert code_of(b"\x92" + pack(value) + encoding) == code
    assert code_of(b"\x82\xa1a" + pack(value) + b"\xa1b" + encoding) == code


@pytest.mark.parametrize("raw", [b"\xa1\xff", b"\xa2\xc3\x28", b"\xa3\xed\xa0\x80", b"\x81\xa1\xff\x01"])
def test_invalid_utf8_str_is_refused(raw):
    assert code_of(raw) == "encoding.malformed"


@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_decode_error(raw):
    try:
        value = unpack(raw)
    except DecodeError:
        return
    assert pack(value) == raw


@pytest.mark.parametrize("raw", [
    b"",  # OutOfData
    b"\xc1",  # FormatError (reserved byte)
    b"\x92\x01",  # truncated array
    b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff",  # container lengths beyond the input
    b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff",  # str and bin lengths beyond the input
])
def test_msgpack_errors_become_decode_errors(raw):
    assert code_of(raw) == "encoding.malformed"


@given(st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=70_000)).map(list), max_size=20))
def test_pack_bin_pairs_is_pack(pairs):
    assert pack_bin_pairs(pairs) == pack(pairs)


@pytest.mark.parametrize("pairs", [[[b"k", None]], [[b"k", "v"]], [[b"k"]], [[b"k", b"v", b"w"]], [[bytearray(b"k"), b"v"]]])
def test_pack_bin_pairs_refuses_anything_but_bytes_pairs(pairs):
    with pytest.raises(TypeError):
        pack_bin_pairs(pairs)
