"""RFC 6962 Merkle trees with inclusion proofs (docs/protocol.md section 6).

leaf = SHA-256(0x00 || item), node = SHA-256(0x01 || left || right), the
tree split at the largest power of two below n, the empty tree SHA-256 of
nothing. Building level by level and carrying an unpaired last node up
unchanged gives exactly that tree. A proof is the audit path from the leaf
to the root; it is checked against the leaf's index and the tree size,
which a header commits as ``tx_count``.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from chain.errors import MerkleProofError
from chain.hashing import EMPTY_HASH

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(item: bytes) -> bytes:
    return hashlib.sha256(_LEAF + item).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def merkle_root(items: Sequence[bytes]) -> bytes:
    if not items:
        return EMPTY_HASH
    level = [leaf_hash(item) for item in items]
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def _parent_level(level: list[bytes]) -> list[bytes]:
    parents = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        parents.append(level[-1])
    return parents


def inclusion_proof(items: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of ``items[index]``, from the leaf's sibling up."""
    if not 0 <= index < len(items):
        raise IndexError(f"leaf {index} is outside a tree of {len(items)} leaves")
    level = [leaf_hash(item) for item in items]
    path: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = _parent_level(level)
        index //= 2
    return path


def root_from_proof(item: bytes, index: int, tree_size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` connects ``item`` at ``index`` to (RFC 9162 2.1.3.2)."""
    if not 0 <= index < tree_size:
        raise MerkleProofError("merkle.bad_index", f"index {index} is outside a tree of {tree_size} leaves")
    node_index, last_index = index, tree_size - 1
    digest = leaf_hash(item)
    for sibling in path:
        if len(sibling) != 32 or last_index == 0:
            raise MerkleProofError("merkle.bad_path", "the path is longer than the tree is deep, or holds a non-hash")
        if node_index & 1 or node_index == last_index:
            digest = node_hash(sibling, digest)
            while not node_index & 1 and node_index:
                node_index >>= 1
                last_index >>= 1
        else:
            digest = node_hash(digest, sibling)
        node_index >>= 1
        last_index >>= 1
    if last_index != 0:
        raise MerkleProofError("merkle.bad_path", "the path is shorter than the tree is deep")
    return digest


def verify_inclusion(item: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes) -> None:
    """Raise MerkleProofError unless ``item`` is leaf ``index`` of the tree with ``root``."""
    if root_from_proof(item, index, tree_size, path) != root:
        raise MerkleProofError("merkle.root_mismatch", "the proof does not lead to the committed root; the item is not in the block")
