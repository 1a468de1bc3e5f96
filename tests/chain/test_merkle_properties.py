"""RFC 6962 trees: the root matches a plain recursive oracle; proofs hold
for every leaf and fail for anything tampered."""
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from chain.errors import MerkleProofError
from chain.merkle import inclusion_proof, merkle_root, root_from_proof, verify_inclusion


def oracle_root(items: list[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1, written straight from the definition."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1
    while split * 2 < len(items):
        split *= 2
    return hashlib.sha256(b"\x01" + oracle_root(items[:split]) + oracle_root(items[split:])).digest()


def leaves(count: int) -> list[bytes]:
    return [b"item %d" % i for i in range(count)]


@given(st.integers(0, 300))
def test_root_matches_the_recursive_definition(count):
    assert merkle_root(leaves(count)) == oracle_root(leaves(count))


@given(st.lists(st.binary(max_size=20), max_size=40))
def test_root_matches_for_arbitrary_items(items):
    assert merkle_root(items) == oracle_root(items)


@settings(max_examples=60)
@given(st.integers(1, 300), st.data())
def test_proofs_verify_for_every_leaf(count, data):
    items = leaves(count)
    root = merkle_root(items)
    indexes = range(count) if count <= 40 else data.draw(st.lists(st.integers(0, count - 1), min_size=10, max_size=10))
    for index in indexes:
        verify_inclusion(items[index], index, count, inclusion_proof(items, index), root)


def failing(item, index, size, path, root) -> bool:
    try:
        verify_inclusion(item, index, size, path, root)
    except MerkleProofError:
        return True
    return False


@settings(max_examples=80)
@given(st.integers(1, 300), st.data())
def test_tampered_proofs_fail(count, data):
    items = leaves(count)
    root = merkle_root(items)
    index = data.draw(st.integers(0, count - 1))
    path = inclusion_proof(items, index)
    assert failing(items[index] + b"!", index, count, path, root)
    assert failing(items[index], index, count, path, hashlib.sha256(root).digest())
    if count > 1:
        other = data.draw(st.integers(0, count - 1).filter(lambda i: i != index))
        assert failing(items[index], other, count, path, root)
        position = data.draw(st.integers(0, len(path) - 1))
        tampered = list(path)
        tampered[position] = hashlib.sha256(tampered[position]).digest()
        assert failing(items[index], index, count, tampered, root)
        assert failing(items[index], index, count, path[:-1], root)
    assert failing(items[index], index, count, path + [b"\x00" * 32], root)


def test_wrong_tree_size_is_caught_when_the_index_is_the_last_leaf():
    items = leaves(5)
    path = inclusion_proof(items, 4)
    assert failing(items[4], 4, 6, path, merkle_root(items))


@pytest.mark.parametrize("index, size", [(-1, 3), (3, 3), (0, 0)])
def test_index_outside_the_tree(index, size):
    with pytest.raises(MerkleProofError) as error:
        root_from_proof(b"x", index, size, [])
    assert error.value.code == "merkle.bad_index"


def test_proof_of_a_missing_leaf_is_a_programming_error():
    with pytest.raises(IndexError):
        inclusion_proof(leaves(3), 3)
