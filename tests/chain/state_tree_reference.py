"""The state tree's root by its definition (chain/state_tree.py,
docs/protocol.md section 7), nothing cached: the dumb reference the tests
hold the tree and the chain's state_root against."""
from __future__ import annotations

from typing import Iterable

from chain.state_tree import EMPTY_ROOT, STATE_TREE_RADIX_BITS, digit, internal_hash, key_path, leaf_hash, value_hash


def reference_root(items: dict[bytes, bytes], radix_bits: int, depth: int = 0) -> bytes:
    """The root over ``items`` (path -> value) by the definition, nothing
    cached: empty, one leaf, or an internal node over the subtrees of each digit."""
    if not items:
        return EMPTY_ROOT
    if len(items) == 1:
        [(path, value)] = items.items()
        return leaf_hash(path, value_hash(value))
    groups: dict[int, dict[bytes, bytes]] = {}
    for path, value in sorted(items.items()):
        groups.setdefault(digit(path, depth, radix_bits), {})[path] = value
    return internal_hash(radix_bits, [(d, reference_root(group, radix_bits, depth + 1)) for d, group in sorted(groups.items())])


def state_root_of(state: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The chain's state_root over a whole state of (key, value) pairs."""
    return reference_root({key_path(key): value for key, value in state}, STATE_TREE_RADIX_BITS)
