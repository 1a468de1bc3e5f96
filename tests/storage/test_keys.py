"""The key layout: keys sort in height order and no two parts collide."""
from hypothesis import given, strategies as st

from storage import keys

HEIGHTS = st.integers(min_value=0, max_value=2**64 - 1)
INDEXES = st.integers(min_value=0, max_value=2**32 - 1)
TYPE_BYTES = [keys.META, keys.BLOCK, keys.BLOCK_HASH, keys.CERTIFICATE, keys.TX_LOCATION,
              keys.RESULTS, keys.STATE, keys.EVIDENCE]


def test_type_bytes_are_distinct_single_bytes():
    assert len(set(TYPE_BYTES)) == len(TYPE_BYTES) and all(len(t) == 1 for t in TYPE_BYTES)


def test_metadata_names_are_not_prefixes_of_one_another():
    names = [keys.META_LAST_HEIGHT, keys.META_LAST_BLOCK_HASH, keys.META_LAST_STATE_ROOT, keys.META_GENESIS_HASH]
    assert not any(a != b and b.startswith(a) for a in names for b in names)


@given(HEIGHTS, HEIGHTS)
def test_height_keys_sort_in_height_order(first, second):
    assert (keys.block_key(first) < keys.block_key(second)) == (first < second)
    assert keys.decode_height(keys.encode_height(first)) == first


@given(HEIGHTS, INDEXES)
def test_location_round_trips(height, index):
    assert keys.decode_location(keys.encode_location(height, index)) == (height, index)


@given(st.binary(), HEIGHTS)
def test_state_keys_never_meet_other_types(state_key, height):
    stored = keys.state_key(state_key)
    assert stored[:1] == keys.STATE and stored[1:] == state_key
    others = [keys.block_key(height), keys.certificate_key(height), keys.results_key(height)]
    assert all(not other.startswith(keys.STATE) for other in others)
