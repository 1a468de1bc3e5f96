"""Quorum arithmetic against brute force, primary rotation, set hash."""
import hashlib
from itertools import combinations

import pytest

from chain.encoding import pack
from chain.validators import ValidatorSet, max_faulty, quorum_size, weak_quorum_size
from tests.factories import validator_keys


def smallest_intersecting_quorum(n):
    f = (n - 1) // 3
    for q in range(1, n + 1):
        if 2 * q - n >= f + 1:
            return q
    return None


def all_pairs_overlap(n, q, overlap):
    subsets = [frozenset(c) for c in combinations(range(n), q)]
    return all(len(a & b) >= overlap for a in subsets for b in subsets)


def smallest_quorum_by_enumeration(n):
    f = (n - 1) // 3
    return next(q for q in range(1, n + 1) if all_pairs_overlap(n, q, f + 1))


def expected_quorum(n):
    """docs/protocol.md section 8 fixes quorum = floor(2n/3) + 1. That is the smallest
    q with an f + 1 overlap except when 3 divides n (f = n/3 - 1), where the
    design keeps the classic 2n/3 + 1 and so needs one signer more."""
    smallest = smallest_intersecting_quorum(n)
    return smallest + 1 if n % 3 == 0 else smallest


@pytest.mark.parametrize("n", range(1, 41))
def test_quorum_is_smallest_with_f_plus_one_overlap(n):
    assert max_faulty(n) == (n - 1) // 3
    assert 3 * max_faulty(n) + 1 <= n < 3 * max_faulty(n) + 4
    assert quorum_size(n) == 2 * n // 3 + 1
    assert quorum_size(n) == expected_quorum(n)
    assert 2 * quorum_size(n) - n >= max_faulty(n) + 1
    assert weak_quorum_size(n) == max_faulty(n) + 1
    # a quorum is reachable with f validators silent
    assert quorum_size(n) <= n - max_faulty(n)


@pytest.mark.parametrize("n", range(1, 11))
def test_quorum_by_exhaustive_enumeration(n):
    assert smallest_quorum_by_enumeration(n) == smallest_intersecting_quorum(n)
    assert all_pairs_overlap(n, quorum_size(n), max_faulty(n) + 1)
    assert quorum_size(n) == expected_quorum(n)
    if n % 3:
        assert not all_pairs_overlap(n, quorum_size(n) - 1, max_faulty(n) + 1)


def test_n4_numbers():
    validators = ValidatorSet.of(key.public_key for key in validator_keys(4))
    assert (validators.f, validators.quorum, validators.weak_quorum) == (1, 3, 2)


def test_primary_rotates_with_height_plus_view():
    keys = [key.public_key for key in validator_keys(4)]
    validators = ValidatorSet.of(keys)
    for height in range(10):
        for view in range(10):
            assert validators.primary(height, view) == keys[(height + view) % 4]
    assert {validators.primary(1, v) for v in range(4)} == set(keys)


def test_set_hash_is_sha256_of_packed_keys_and_order_sensitive():
    keys = [key.public_key for key in validator_keys(4)]
    validators = ValidatorSet.of(keys)
    assert validators.hash() == hashlib.sha256(pack(keys)).digest()
    assert ValidatorSet.of(reversed(keys)).hash() != validators.hash()
    assert ValidatorSet.of(keys[:3]).hash() != validators.hash()


def test_set_membership_and_bad_sets():
    keys = [key.public_key for key in validator_keys(3)]
    validators = ValidatorSet.of(keys)
    assert keys[1] in validators and validators.index_of(keys[2]) == 2
    assert bytes(32) not in validators
    for bad in ([], [keys[0], keys[0]], [b"short"]):
        with pytest.raises(ValueError):
            ValidatorSet.of(bad)
