"""The chained state root, computed by hand for a small write-set."""
import hashlib

from chain.state_root import GENESIS_PREDECESSOR, next_state_root, write_set_digest


def test_hand_computed_state_root_with_deletion_and_bytewise_order():
    write_set = {b"b": b"\x02", b"a\xff": None, b"a": b"\x01", b"\x80": b"x"}
    # bytewise key order: a < a\xff < b < \x80; the deleted key packs as empty bin
    expected_packed = (
        b"\x94"
        + b"\x92\xc4\x01a\xc4\x01\x01"
        + b"\x92\xc4\x02a\xff\xc4\x00"
        + b"\x92\xc4\x01b\xc4\x01\x02"
        + b"\x92\xc4\x01\x80\xc4\x01x"
    )
    digest = hashlib.sha256(expected_packed).digest()
    assert write_set_digest(write_set) == digest
    assert GENESIS_PREDECESSOR == bytes(32)
    first = next_state_root(GENESIS_PREDECESSOR, write_set)
    assert first == hashlib.sha256(bytes(32) + digest).digest()
    empty_digest = hashlib.sha256(b"\x90").digest()
    assert next_state_root(first, {}) == hashlib.sha256(first + empty_digest).digest()


def test_deletion_differs_from_absence_and_order_of_insertion_is_irrelevant():
    assert write_set_digest({b"k": None}) != write_set_digest({})
    assert write_set_digest({b"k": None}) == write_set_digest({b"k": b""})
    assert write_set_digest({b"a": b"1", b"b": b"2"}) == write_set_digest({b"b": b"2", b"a": b"1"})
    assert next_state_root(bytes(32), {b"a": b"1"}) != next_state_root(b"\x01" * 32, {b"a": b"1"})
