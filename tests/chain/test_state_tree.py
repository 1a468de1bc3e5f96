"""The state tree (chain/state_tree.py) against a dumb reference: a recursive
function over a sorted dict. Roots agree for random maps and random
sequences of batches; every inclusion and non-inclusion proof verifies;
a tampered value, sibling, key, root or proof fails; every version kept
stays readable; the nodes an update marks stale are exactly the ones no
later version reads."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.state_tree import (
    EMPTY_ROOT, StateProof, StateProofError, StateTree, _with_digit, decode_internal, key_path, node_key, ref_hash,
    ref_is_leaf, ref_version, value_hash, verify_proof,
)
from tests.chain.state_tree_reference import reference_root

RADIXES = [1, 2, 4, 8]


class DictNodes:
    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, key: bytes) -> bytes | None:
        return self.nodes.get(key)


def path_of(n: int) -> bytes:
    return key_path(n.to_bytes(4, "big"))


def hashed(value: int) -> bytes:
    return value_hash(value.to_bytes(4, "big"))


keys = st.integers(0, 60)
batches = st.lists(st.dictionaries(keys, st.one_of(st.none(), st.integers(0, 5)), max_size=12), min_size=1, max_size=8)


class Versions:
    """Applies batches as successive versions, keeping every node and each
    version's root, and the reference map of each version."""

    def __init__(self, radix_bits: int, batch_list: list[dict[int, int | None]] = ()) -> None:
        self.store = DictNodes()
        self.tree = StateTree(self.store, radix_bits)
        self.roots: list[bytes | None] = [None]
        self.maps: list[dict[bytes, bytes]] = [{}]
        self.stale: list[tuple[int, bytes]] = []
        for batch in batch_list:
            self.apply(batch)

    def apply(self, batch: dict[int, int | None]) -> None:
        version = len(self.roots)
        changes = {path_of(k): None if v is None else hashed(v) for k, v in batch.items()}
        update = self.tree.update(self.roots[-1], changes, version)
        assert not set(update.nodes) & set(self.store.nodes), "a node key written twice"
        self.store.nodes.update(update.nodes)
        self.stale += [(version, key) for key in update.stale]
        self.roots.append(update.root)
        current = dict(self.maps[-1])
        for path, value in changes.items():
            if value is None:
                current.pop(path, None)
            else:
                current[path] = value
        self.maps.append(current)


@pytest.mark.parametrize("radix_bits", RADIXES)
@given(batch_list=batches)
@settings(max_examples=150)
def test_every_version_matches_the_reference_and_proves_every_key(radix_bits, batch_list):
    versions = Versions(radix_bits, batch_list)
    for root, expected in zip(versions.roots, versions.maps):
        root_hash = ref_hash(root)
        assert root_hash == reference_root(expected, radix_bits)
        for k in range(0, 61, 3):
            path = path_of(k)
            found, proof = versions.tree.prove(root, path)
            assert found == expected.get(path)
            verify_proof(root_hash, path, found, StateProof.decode(proof.encode(radix_bits), radix_bits), radix_bits)


@pytest.mark.parametrize("radix_bits", RADIXES)
@given(batch_list=batches)
@settings(max_examples=100)
def test_pruning_what_updates_mark_stale_keeps_exactly_the_latest_version(radix_bits, batch_list):
    versions = Versions(radix_bits, batch_list)
    for _, key in versions.stale:
        versions.store.nodes.pop(key)
    latest = versions.roots[-1]
    reachable = _reachable(versions.tree, latest)
    assert reachable == set(versions.store.nodes), "a stale node kept, or a live one marked stale"
    for path, value in versions.maps[-1].items():
        assert versions.tree.get(latest, path) == value


def _reachable(tree: StateTree, root: bytes | None) -> set[bytes]:
    seen: set[bytes] = set()

    def walk(ref: bytes, depth: int, path: bytes) -> None:
        key = node_key(ref_version(ref), depth, path, tree.radix_bits)
        seen.add(key)
        if not ref_is_leaf(ref):
            for d, child in decode_internal(tree.reader.get_node(key), tree.radix_bits).items():
                walk(child, depth + 1, _with_digit(path, depth, d, tree.radix_bits))

    if root is not None:
        walk(root, 0, bytes(32))
    return seen


@pytest.mark.parametrize("radix_bits", [1, 4])
@given(present=st.sets(keys, min_size=2, max_size=30), probe=keys, data=st.data())
@settings(max_examples=150)
def test_a_tampered_proof_value_key_or_root_fails(radix_bits, present, probe, data):
    versions = Versions(radix_bits)
    versions.apply({k: k % 6 for k in present})
    root = versions.roots[-1]
    path = path_of(probe)
    found, proof = versions.tree.prove(root, path)
    verify_proof(ref_hash(root), path, found, proof, radix_bits)
    wrong_value = hashed(99)
    with pytest.raises(StateProofError):
        verify_proof(ref_hash(root), path, wrong_value, proof, radix_bits)
    if found is not None:
        with pytest.raises(StateProofError):
            verify_proof(ref_hash(root), path, None, proof, radix_bits)        # present, claimed absent
    if found is not None:
        other = path_of(data.draw(keys.filter(lambda k: path_of(k) != path), label="other key"))
        with pytest.raises(StateProofError):
            verify_proof(ref_hash(root), other, found, proof, radix_bits)        # a presence proof moved to another key
    with pytest.raises(StateProofError):
        verify_proof(hashlib.sha256(ref_hash(root)).digest(), path, found, proof, radix_bits)
    raw = bytearray(proof.encode(radix_bits))
    position = data.draw(st.integers(0, len(raw) - 1), label="byte")
    raw[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(StateProofError):
        verify_proof(ref_hash(root), path, found, StateProof.decode(bytes(raw), radix_bits), radix_bits)


def test_an_empty_tree_proves_any_absence_and_no_presence():
    tree = StateTree(DictNodes())
    found, proof = tree.prove(None, path_of(1))
    assert found is None and proof.levels == () and proof.leaf is None
    verify_proof(EMPTY_ROOT, path_of(1), None, proof, 4)
    with pytest.raises(StateProofError):
        verify_proof(EMPTY_ROOT, path_of(1), hashed(1), proof, 4)


def test_undecodable_proofs_are_refused_with_a_code():
    for raw in (b"", b"\xc1", b"\x92\x90\x91\x01", b"\x92\x91\x92\x00\x90\x90"):
        with pytest.raises(StateProofError) as error:
            StateProof.decode(raw, 4)
        assert error.value.code == "proof.malformed"


@pytest.mark.parametrize("radix_bits", [4])
@given(batch_list=batches, data=st.data())
@settings(max_examples=100)
def test_the_values_before_an_update_spare_reads_but_never_change_what_it_makes(radix_bits, batch_list, data):
    """Right, wrong or missing values before: the same root, nodes and stale keys."""
    plain, told = Versions(radix_bits), Versions(radix_bits)
    for batch in batch_list:
        plain.apply(batch)
        changes = {path_of(k): None if v is None else hashed(v) for k, v in batch.items()}
        previous = {path: data.draw(st.sampled_from([told.maps[-1].get(path), None, hashed(77)]), label="before")
                    for path in changes}
        version = len(told.roots)
        update = told.tree.update(told.roots[-1], changes, version, previous)
        reference = plain.tree.update(plain.roots[-2], changes, version)
        assert (update.root, update.nodes, sorted(update.stale)) == (reference.root, reference.nodes, sorted(reference.stale))
        told.store.nodes.update(update.nodes)
        told.roots.append(update.root)
        told.maps.append(plain.maps[-1])
