"""RFC 6962 Merkle trees against a dumb recursive oracle, and proof checks."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from chain.errors import MerkleProofError
from chain.merkle import inclusion_proof, merkle_root, verify_inclusion


def oracle(items):
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    k = 1
    while k * 2 < len(items):
        k *= 2
    return hashlib.sha256(b"\x01" + oracle(items[:k]) + oracle(items[k:])).digest()


def leaves(n):
    return [b"leaf %d" % i for i in range(n)]


def test_oracle_equals_root_for_0_to_300():
    for n in range(301):
        assert merkle_root(leaves(n)) == oracle(leaves(n)), n


@given(st.lists(st.binary(max_size=8), max_size=300))
def test_oracle_equals_root_random(items):
    assert merkle_root(items) == oracle(items)


def rejects(*args):
    with pytest.raises(MerkleProofError):
        verify_inclusion(*args)


@settings(max_examples=60)
@given(st.integers(1, 300), st.data())
def test_proofs_verify_and_tampering_fails(n, data):
    items = [b"item %d" % i for i in range(n)]
    root = merkle_root(items)
    indexes = range(n) if n <= 16 else data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))
    for index in indexes:
        path = inclusion_proof(items, index)
        verify_inclusion(items[index], index, n, path, root)
        rejects(items[index] + b"x", index, n, path, root)
        rejects(items[index], index, n, path, bytes(32) if root != bytes(32) else b"\x01" * 32)
        for other_size in (n - 1, n + 1, 2 * n):
            # The size fixes the path's shape; a size with another shape must fail.
            if other_size > index and len(inclusion_proof(leaves(other_size), index)) != len(path):
                rejects(items[index], index, other_size, path, root)
        if n > 1:
            rejects(items[index], (index + 1) % n, n, path, root)
            j = data.draw(st.integers(0, len(path) - 1))
            tampered = list(path)
            tampered[j] = bytes(b ^ 1 for b in tampered[j])
            rejects(items[index], index, n, tampered, root)
            rejects(items[index], index, n, path[:-1], root)
        rejects(items[index], index, n, path + [bytes(32)], root)
        rejects(items[index], n, n, path, root)
