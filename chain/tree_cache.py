"""A bounded memory cache of the state tree's newest internal nodes.

Every block's update walks from the root to each changed key, reading the
internal nodes on the way (about five per changed key at 100,000
accounts) and writing each of them again under the new version. Those
reads are of the nodes the previous block wrote or read, so a cache that
takes every internal node as it is written, and forgets a node once an
update replaces it (its stale key), holds exactly the newest version's hot
nodes; leaves are left out (an update knows a changed key's leaf by its
hash, chain/state_tree.py). Bounded in two generations, like the store's
read cache (chain/generations.py).

Pure: it wraps any ``NodeReader`` and is told of the writes once they are
durable, so it never holds a node the reader does not.
"""
from __future__ import annotations

from chain.generations import MISSING, Generations
from chain.state_tree import NodeReader, TreeUpdate, is_stored_internal

# Internal nodes kept: the top four levels of a 16-ary tree are 4,369 nodes
# and every block touches most of them; this holds the next level over
# about a million state keys as well (a few hundred bytes a node).
TREE_CACHE_NODES = 400_000


class CachedNodes:
    """``reader``'s nodes, the newest internal ones answered from memory."""

    def __init__(self, reader: NodeReader, entries: int = TREE_CACHE_NODES) -> None:
        self.reader = reader
        self._nodes: Generations[bytes] = Generations(entries)

    def get_node(self, key: bytes) -> bytes | None:
        raw = self._nodes.get(key)
        if raw is not MISSING:
            return raw
        raw = self.reader.get_node(key)
        if raw is not None and is_stored_internal(raw):
            self._nodes.put(key, raw)
        return raw

    def written(self, update: TreeUpdate) -> None:
        """``update``'s nodes are now durable: keep its internal nodes, forget
        those it replaced (a node both written and replaced, as a spill of
        the tree's layers writes retired ones, is forgotten)."""
        for key, raw in update.nodes.items():
            if is_stored_internal(raw):
                self._nodes.put(key, raw)
        for key in update.stale:
            self._nodes.discard(key)

    def __len__(self) -> int:
        return len(self._nodes)
