"""The state tree's recent versions in memory, over a base version on disk.

Most of what a block writes to the state tree is short-lived: the root and
the internal nodes near it are replaced by the very next block, a busy
account's leaf a few blocks later. Written to LevelDB, each such node is
flushed, merged down a level or two, deleted a proof window later and
merged again: about 2.6 KB of a commerce transaction's 4.1 KB written
(docs/benchmarks.md, "The state tree's recent versions in memory").

So the store keeps one whole version of the tree on disk, the *base*, and
the nodes written after it here. Every so many heights a *promotion* moves
the nodes the newest version still reads to disk, and that version becomes
the base. A node replaced while it is here never reaches the disk: it stays
while a version in the proof window reads it, then goes. Past a memory
budget a *spill* writes everything held here to disk instead, as if there
were no layers.

Which nodes live where follows from their version (the first 8 bytes of a
node key): a node written at or before the base that a later version
replaces is on disk, one written after it is here. What the disk needs to
rebuild these versions after a restart (each height's changes since the
base) is the block store's to keep (storage/blockstore.py). Pure: no I/O.
"""
from __future__ import annotations

from chain.state_tree import TreeUpdate


# What holding a node costs beyond its stored bytes: its key, the key's and
# the value's object headers, their slots in the dict and the live set and a
# place in a retired list (measured with tracemalloc on CPython 3.11:
# tests/storage/test_tree_layers.py checks ``held_bytes`` against it).
NODE_ENTRY_BYTES = 180


def _held(raw: bytes) -> int:
    """What holding one node of ``raw`` costs in memory, about."""
    return len(raw) + NODE_ENTRY_BYTES


def node_version(node_key: bytes) -> int:
    """The version a node was written at (chain/state_tree.py, ``node_key``)."""
    return int.from_bytes(node_key[:8], "big")


class TreeLayers:
    """The nodes written after version ``base``, and what each height replaced of them."""

    def __init__(self, base: int) -> None:
        self.base = base
        self._nodes: dict[bytes, bytes] = {}
        self._live: set[bytes] = set()                 # nodes here that no later version replaced
        self._retired: dict[int, list[bytes]] = {}     # height -> nodes here it replaced, in height order
        self.held_bytes = 0                            # about what the nodes here take in memory

    def get_node(self, node_key: bytes) -> bytes | None:
        return self._nodes.get(node_key)

    def on_disk(self, node_key: bytes) -> bool:
        """Whether a node an update replaces lives on disk (else here)."""
        return node_version(node_key) <= self.base

    def stage(self, update: TreeUpdate) -> None:
        """Hold an update's nodes, readable before the batch that makes its height visible is written."""
        for key, raw in update.nodes.items():
            if key not in self._nodes:
                self.held_bytes += _held(raw)
            self._nodes[key] = raw

    def unstage(self, update: TreeUpdate) -> None:
        """The batch of a staged update failed: forget its nodes."""
        for key in update.nodes:
            raw = self._nodes.pop(key, None)
            if raw is not None:
                self.held_bytes -= _held(raw)

    def promotion(self, update: TreeUpdate) -> dict[bytes, bytes]:
        """What moves to disk if the version ``update`` makes becomes the base: the nodes here it reads."""
        replaced = set(update.stale)
        moving = {key: self._nodes[key] for key in self._live if key not in replaced}
        moving.update(update.nodes)
        return moving

    def spill(self, update: TreeUpdate) -> tuple[dict[bytes, bytes], list[bytes]]:
        """Everything held here, ``update``'s staged nodes included (to write
        to disk), and the retired nodes among it (to delete once that height
        leaves the proof window: no version at or after it reads them)."""
        retired = [key for keys in self._retired.values() for key in keys]
        retired.extend(key for key in update.stale if not self.on_disk(key))
        return dict(self._nodes), retired

    def settle(self, height: int, update: TreeUpdate, base: bool = False, spilled: bool = False) -> None:
        """A staged update's batch is durable. Its nodes are the newest; the
        nodes here it replaced retire. ``base``: the batch promoted it, so its
        nodes are read from disk now; ``spilled``: the batch wrote everything
        held here to disk."""
        if spilled:
            self._nodes.clear()
            self._live.clear()
            self._retired.clear()
            self.held_bytes = 0
            self.base = height
            return
        retired = [key for key in update.stale if not self.on_disk(key)]
        self._live.difference_update(retired)
        self._live.update(update.nodes)
        if retired:
            self._retired[height] = retired
        if base:
            for key in self._live:
                self.held_bytes -= _held(self._nodes.pop(key))
            self._live.clear()
            self.base = height

    def forget_up_to(self, oldest: int) -> None:
        """The versions before ``oldest`` left the proof window: drop the nodes only they read."""
        while self._retired:
            height = next(iter(self._retired))
            if height > oldest:
                return
            for key in self._retired.pop(height):
                self.held_bytes -= _held(self._nodes.pop(key))

    def __len__(self) -> int:
        return len(self._nodes)
