"""The two-generation map (chain/generations.py): bounded, what was used
lately stays, None is a value it can hold, and size 0 holds nothing."""
from chain.generations import MISSING, Generations


def test_an_entry_used_in_the_old_generation_outlives_one_that_was_not():
    cache = Generations(4)
    cache.put(b"a", 1)
    cache.put(b"b", None)
    assert cache.get(b"b") is None        # None is a value held, not a miss
    cache.put(b"c", 3)                     # the young one was full: a and b are now the old generation
    assert cache.get(b"a") == 1            # used: moves back to the young one, beside c
    cache.put(b"d", 4)                     # full again: b, never used, is dropped with the old generation
    assert cache.get(b"b") is MISSING and cache.get(b"a") == 1 and cache.get(b"c") == 3 and cache.get(b"d") == 4
    assert len(cache) <= 4


def test_discard_and_holds():
    cache = Generations(4)
    cache.put(b"a", 1)
    assert cache.holds(b"a")
    cache.discard(b"a")
    assert not cache.holds(b"a") and cache.get(b"a") is MISSING


def test_no_entries_holds_nothing():
    cache = Generations(0)
    cache.put(b"a", 1)
    assert cache.get(b"a") is MISSING and len(cache) == 0
