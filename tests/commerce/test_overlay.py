from commerce.overlay import Overlay
from storage.memory import MemoryStore


def make_base() -> MemoryStore:
    store = MemoryStore()
    for key in (b"a1", b"a3", b"b1"):
        store.put(key, key.upper())
    return store


def test_reads_through_and_records_writes():
    overlay = Overlay(make_base())
    overlay.put(b"a2", b"X")
    overlay.delete(b"a3")
    assert overlay.get(b"a1") == b"A1" and overlay.get(b"a2") == b"X" and overlay.get(b"a3") is None
    assert overlay.writes == {b"a2": b"X", b"a3": None}


def test_iterate_prefix_merges_in_key_order_and_hides_deletes():
    overlay = Overlay(make_base())
    overlay.put(b"a0", b"Z")
    overlay.put(b"a1", b"NEW")
    overlay.delete(b"a3")
    assert list(overlay.iterate_prefix(b"a")) == [(b"a0", b"Z"), (b"a1", b"NEW")]


def test_child_is_thrown_away_or_merged():
    parent = Overlay(make_base())
    child = parent.child()
    child.put(b"c", b"1")
    assert parent.get(b"c") is None and child.get(b"a1") == b"A1"
    child.merge_into(parent)
    assert parent.get(b"c") == b"1"
