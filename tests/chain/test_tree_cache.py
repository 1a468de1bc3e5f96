"""The tree's node cache (chain/tree_cache.py): updates through it make the
same roots and nodes as through its reader alone, it answers exactly what
its reader holds once a replaced node is pruned, and it spares the reader
the reads of the nodes the previous update wrote."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.state_tree import MemoryNodes, StateTree, key_path
from chain.tree_cache import CachedNodes

keys = st.integers(0, 80)
batches = st.lists(st.dictionaries(keys, st.one_of(st.none(), st.integers(0, 5)), max_size=15), min_size=1, max_size=10)


class CountingNodes(MemoryNodes):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get_node(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().get_node(key)


def changes_of(batch: dict[int, int | None]) -> dict[bytes, bytes | None]:
    return {key_path(k.to_bytes(2, "big")): None if v is None else v.to_bytes(2, "big") for k, v in batch.items()}


@settings(max_examples=60)
@given(batch_list=batches, entries=st.sampled_from([0, 2, 6, 1000]))
def test_updates_through_the_cache_match_the_reader_alone_and_stay_coherent_with_pruning(batch_list, entries):
    plain, backing = MemoryNodes(), MemoryNodes()
    cached = CachedNodes(backing, entries)
    plain_tree, cached_tree = StateTree(plain, 4), StateTree(cached, 4)
    plain_root = cached_root = None
    seen: set[bytes] = set()
    for version, batch in enumerate(batch_list, start=1):
        changes = changes_of(batch)
        expected = plain_tree.update(plain_root, changes, version)
        got = cached_tree.update(cached_root, changes, version)
        assert (got.root, got.nodes, got.stale) == (expected.root, expected.nodes, expected.stale)
        plain.nodes.update(expected.nodes)
        backing.nodes.update(got.nodes)
        for key in got.stale:                          # a proof window of one version: replaced nodes go
            del backing.nodes[key]
        cached.written(got)
        plain_root, cached_root = expected.root, got.root
        seen |= set(got.nodes) | set(got.stale)
        assert all(cached.get_node(key) == backing.get_node(key) for key in seen)


def test_the_next_update_reads_no_internal_node_the_last_one_wrote():
    backing = CountingNodes()
    cached = CachedNodes(backing)
    tree = StateTree(cached, 4)
    first = tree.update(None, changes_of({k: 1 for k in range(2000)}), 1)
    backing.nodes.update(first.nodes)
    cached.written(first)
    before = {key_path(k.to_bytes(2, "big")): (1).to_bytes(2, "big") for k in range(0, 2000, 7)}
    second = tree.update(first.root, {path: b"\x00\x02" for path in before}, 2, before)
    assert backing.reads == 0 and len(second.nodes) > len(before)
    unknown = tree.update(first.root, {path: b"\x00\x02" for path in before}, 2)    # no previous values: leaves are read
    assert backing.reads == len(before) and unknown.root == second.root


def test_the_cache_keeps_at_most_its_entries():
    cached = CachedNodes(MemoryNodes(), entries=10)
    update = StateTree(cached, 4).update(None, changes_of({k: 1 for k in range(500)}), 1)
    cached.written(update)
    internal = sum(1 for raw in update.nodes.values() if raw[0] == 1)
    assert internal > 10 and len(cached) <= 10
