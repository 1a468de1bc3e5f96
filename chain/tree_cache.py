"""A bounded memory cache of the state tree's newest internal nodes.

Every block's update walks from the root to each changed key, reading the
internal nodes on the way (about five per changed key at 100,000
accounts) and writing each of them again under the new version. Those
reads are of the nodes the previous block wrote or read, so a cache that
takes every internal node as it is written, and forgets a node once an
update replaces it (its stale key), holds exactly the newest version's hot
nodes; leaves are left out (an update knows a changed key's leaf by its
hash, chain/state_tree.py). Bounded in two generations of half each, like
the store's read cache: when the young one fills it becomes the old one and
the old one is dropped; a hit in the old one moves back.

Pure: it wraps any ``NodeReader`` and is told of the writes once they are
durable, so it never holds a node the reader does not.
"""
from __future__ import annotations

from chain.state_tree import NodeReader, TreeUpdate

# Internal nodes kept: the top four levels of a 16-ary tree are 4,369 nodes
# and every block touches most of them; this holds the next level over
# about a million state keys as well (a few hundred bytes a node).
TREE_CACHE_NODES = 400_000
_STORED_INTERNAL = 1


class CachedNodes:
    """``reader``'s nodes, the newest internal ones answered from memory."""

    def __init__(self, reader: NodeReader, entries: int = TREE_CACHE_NODES) -> None:
        self.reader = reader
        self._young: dict[bytes, bytes] = {}
        self._older: dict[bytes, bytes] = {}
        self._generation_max = entries // 2

    def get_node(self, key: bytes) -> bytes | None:
        raw = self._young.get(key)
        if raw is not None:
            return raw
        raw = self._older.get(key)
        if raw is None:
            raw = self.reader.get_node(key)
            if raw is None or raw[0] != _STORED_INTERNAL:
                return raw
        self._remember(key, raw)
        return raw

    def written(self, update: TreeUpdate) -> None:
        """``update``'s nodes are now durable: keep its internal nodes, forget those it replaced."""
        for key in update.stale:
            self._young.pop(key, None)
            self._older.pop(key, None)
        for key, raw in update.nodes.items():
            if raw[0] == _STORED_INTERNAL:
                self._remember(key, raw)

    def _remember(self, key: bytes, raw: bytes) -> None:
        if not self._generation_max:
            return
        if len(self._young) >= self._generation_max:
            self._older = self._young
            self._young = {}
        self._young[key] = raw
