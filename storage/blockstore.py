"""The block store: committed blocks, certificates, results, indexes, state
and the state tree.

``commit`` writes a block, its certificate, its results, the transaction
index, the block's state write-set, the state tree's new nodes and root and
the new metadata in ONE write batch with ``sync=True``: a crash leaves the
store at the old height or the new one, never between, and there is no log
to replay (docs/architecture.md, storage/). Only the node's commit path
writes; everything else reads.

The state tree keeps the versions of the last ``proof_window_blocks``
heights: each commit deletes the nodes no kept version reads any more and
the root of the height that left the window. The nodes of the versions
after the tree's base are held in memory (chain/tree_layers.py); each
height's batch records its write-set above the base, so that opening the
store rebuilds those versions and checks each root against the one
recorded. A node restarted proves the heights from its base on until the
window fills again.
"""
from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from chain.block import Block, Header, decode_block, stored_header
from chain.encoding import pack, unpack, unpack_item_trusted, unpack_trusted
from chain.kv import KeyValueReader, KeyValueStore, WriteBatch
from chain.errors import CodedError
from chain.results import TxResult
from chain.state_tree import STATE_SCHEME, STATE_TREE_RADIX_BITS, StateTree, TreeUpdate, state_changes
from chain.tree_cache import CachedNodes
from chain.tree_layers import TreeLayers
from chain.votes import CommitCertificate, decode_certificate
from storage import keys
from storage.errors import StorageError
from storage.leveldb import LevelDBStore

# Heights whose state a node can prove, unless configured (docs/configuration.md).
PROOF_WINDOW_BLOCKS = 100
# How often the newest version of the state tree becomes its base on disk (at
# most a proof window less one: the base stays provable), and the bytes of
# nodes held in memory above it before everything goes to disk at once.
TREE_BASE_EVERY_BLOCKS = 50
TREE_MEMORY_BYTES = 256 * 1024 * 1024
# The name the database gives its state layout: the chain's tree scheme, its
# versions above a base held in memory. A data/ named by the bare scheme is
# the layout before (every node on disk), which this code opens and renames
# at its next commit; code from before refuses this name
# (storage.old_state_scheme) rather than misreading the layout.
STORED_SCHEME = f"{STATE_SCHEME}, tree base"
# What an operator does with a data/ this code cannot use.
_RESYNC = "move data/ aside and start the node: it resyncs from its peers"


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    raw: bytes
    result: TxResult
    height: int
    index: int
    block_hash: bytes


class StateView:
    """Committed state as a chain.kv.KeyValueReader: keys are state keys, without
    the storage type byte; iteration reads a snapshot, like the store under it."""

    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv

    def get(self, key: bytes) -> bytes | None:
        return self._kv.get(keys.state_key(key))

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        skip = len(keys.STATE)
        for key, value in self._kv.iterate_prefix(keys.state_key(prefix)):
            yield key[skip:], value


class BlockStore:
    def __init__(self, kv: KeyValueStore, proof_window_blocks: int = PROOF_WINDOW_BLOCKS,
                 tree_memory_bytes: int = TREE_MEMORY_BYTES, tree_base_every_blocks: int = TREE_BASE_EVERY_BLOCKS) -> None:
        if proof_window_blocks < 1:
            raise ValueError("a store keeps at least the state of the height it just committed")
        self.kv = kv
        self.proof_window_blocks = proof_window_blocks
        self.tree_memory_bytes = tree_memory_bytes
        self.tree_base_every_blocks = tree_base_every_blocks
        self._lowest_kept: dict[bytes, int] = {}   # prefix of height-keyed records -> lowest height that may hold one
        self._tree_nodes = CachedNodes(_StoredNodes(kv))
        scheme = kv.get(keys.META_STATE_SCHEME)
        if kv.get(keys.META_GENESIS_HASH) is not None and scheme not in (STORED_SCHEME.encode(), STATE_SCHEME.encode()):
            raise StorageError(
                "storage.old_state_scheme",
                f"this data/ keeps its state under {'the chained write-set root of protocol v1' if scheme is None else scheme.decode(errors='replace')!r}, "
                f"not {STATE_SCHEME!r}; {_RESYNC}")
        base = kv.get(keys.META_TREE_BASE)
        self._layers = TreeLayers(self.last_height() if base is None else keys.decode_height(base))
        self._rebuild_layers()

    # -- metadata -------------------------------------------------------------

    def last_height(self) -> int:
        return stored_height(self.kv)

    def last_block_hash(self) -> bytes | None:
        return self.kv.get(keys.META_LAST_BLOCK_HASH)

    def last_state_root(self) -> bytes | None:
        return self.kv.get(keys.META_LAST_STATE_ROOT)

    def genesis_hash(self) -> bytes | None:
        return self.kv.get(keys.META_GENESIS_HASH)

    # -- the state tree ---------------------------------------------------------

    def get_node(self, node_key: bytes) -> bytes | None:
        """A state tree node (chain.state_tree.NodeReader): those above the base and the newest internal ones
        from memory."""
        raw = self._layers.get_node(node_key)
        return raw if raw is not None else self._tree_nodes.get_node(node_key)

    def tree_base(self) -> int:
        """The height whose whole state tree version is on disk; the versions after it are in memory."""
        return self._layers.base

    def tree_memory(self) -> tuple[int, int]:
        """The state tree's nodes held in memory above its base: how many, and their bytes."""
        return len(self._layers), self._layers.held_bytes

    def _rebuild_layers(self) -> None:
        """The versions after the base, from each height's recorded write-set, each root checked against the
        one recorded at that height."""
        tree = StateTree(self, STATE_TREE_RADIX_BITS)
        root = self.kv.get(keys.tree_root_key(self._layers.base))
        for height in range(self._layers.base + 1, self.last_height() + 1):
            changes, recorded = self.kv.get(keys.tree_changes_key(height)), self.kv.get(keys.tree_root_key(height))
            if root is None or changes is None or recorded is None:
                raise StorageError("storage.corrupt",
                                   f"the state tree's records at height {height} are missing from data/; {_RESYNC}")
            update = tree.update(root or None, state_changes(_unpack_changes(changes)), height)
            if update.root != (recorded or None):
                raise StorageError("storage.corrupt",
                                   f"the state tree rebuilt at height {height} does not match its recorded root; {_RESYNC}")
            root = recorded
            self._layers.stage(update)
            self._layers.settle(height, update)
        self._layers.forget_up_to(self.last_height() - self.proof_window_blocks + 1)

    def tree_root(self, height: int) -> bytes | None:
        """The state tree's root reference at ``height`` (None: the empty
        tree); ``state.pruned`` when the height is not kept."""
        raw = self.kv.get(keys.tree_root_key(height))
        if raw is None:
            raise CodedError("state.pruned", f"the state at height {height} is not kept here (this node keeps the last "
                                             f"{self.proof_window_blocks} heights); ask for a recent height")
        return raw or None

    # -- writes -----------------------------------------------------------------

    def commit_genesis(self, genesis_hash: bytes, write_set: Mapping[bytes, bytes | None], tree: TreeUpdate) -> None:
        """Write the genesis state at height 0 (version 0 of the tree), once."""
        if self.genesis_hash() is not None:
            raise RuntimeError("genesis is already committed to this store")
        with self.kv.write_batch(sync=True) as batch:
            _write_state(batch, write_set)
            for node_key, raw in tree.nodes.items():
                batch.put(keys.tree_node_key(node_key), raw)
            batch.put(keys.tree_root_key(0), tree.root or b"")
            batch.put(keys.META_TREE_BASE, keys.encode_height(0))
            batch.put(keys.META_STATE_SCHEME, STORED_SCHEME.encode())
            batch.put(keys.META_GENESIS_HASH, genesis_hash)
            batch.put(keys.META_LAST_BLOCK_HASH, genesis_hash)
            batch.put(keys.META_LAST_STATE_ROOT, tree.root_hash)
            batch.put(keys.META_LAST_HEIGHT, keys.encode_height(0))
        self._tree_nodes.written(tree)

    def commit(self, block: Block, certificate: CommitCertificate, results: Sequence[TxResult],
               write_set: Mapping[bytes, bytes | None], tree: TreeUpdate | None = None,
               search_terms: Sequence[tuple[str, str, str]] = ()) -> None:
        """Persist a committed block and everything it produced, atomically and durably.

        The block must extend the stored chain. Block 1 on a store without a
        genesis commit is taken with whatever ``prev_hash`` it carries (the
        genesis hash), which is stored as the genesis hash. ``tree`` is the
        state tree's update to this height (None: a store that keeps blocks
        only, as some tests build); ``search_terms`` the (kind, term, id)
        the block's transactions add to the search index.
        """
        header = block.header
        if header.height != self.last_height() + 1:
            raise RuntimeError(f"block {header.height} does not follow the stored height {self.last_height()}")
        first_without_genesis = header.height == 1 and self.genesis_hash() is None
        if not first_without_genesis and header.prev_hash != self.last_block_hash():
            raise RuntimeError(f"block {header.height} does not link to the stored block hash")
        if len(results) != len(block.txs):
            raise RuntimeError("one result per transaction is stored")
        if tree is None and self._layers.base < self.last_height():
            raise RuntimeError("this store keeps state tree versions above its base: every block commits with its tree")
        block_hash = block.hash()
        height_bytes = keys.encode_height(header.height)
        if tree is not None:
            self._layers.stage(tree)
        try:
            written = self._write_batch(block, block_hash, height_bytes, certificate, results, write_set, tree,
                                        search_terms, first_without_genesis)
        except BaseException:
            if tree is not None:
                self._layers.unstage(tree)
            raise
        if tree is not None:
            self._tree_written(header.height, tree, written)
        else:
            self._layers.base = header.height

    def _write_batch(self, block: Block, block_hash: bytes, height_bytes: bytes, certificate: CommitCertificate,
                     results: Sequence[TxResult], write_set: Mapping[bytes, bytes | None], tree: TreeUpdate | None,
                     search_terms: Sequence[tuple[str, str, str]], first_without_genesis: bool) -> "_TreeWrite | None":
        """The block's one batch; what it did with the tree's nodes."""
        header = block.header
        written = None
        with self.kv.write_batch(sync=True) as batch:
            if first_without_genesis:
                batch.put(keys.META_GENESIS_HASH, header.prev_hash)
                batch.put(keys.META_STATE_SCHEME, STORED_SCHEME.encode())
                if tree is not None:       # an update without a genesis version is made on the empty tree
                    batch.put(keys.tree_root_key(0), b"")
            batch.put(keys.block_key(header.height), block.encode())
            batch.put(keys.block_hash_key(block_hash), height_bytes)
            batch.put(keys.certificate_key(header.height), certificate.encode())
            batch.put(keys.results_key(header.height), pack([result.encode() for result in results]))
            for index, raw in enumerate(block.txs):
                batch.put(keys.tx_location_key(hashlib.sha256(raw).digest()), keys.encode_location(header.height, index))
            for record in block.evidence:
                batch.put(keys.evidence_key(hashlib.sha256(record).digest()), pack([header.height, record]))
            _write_state(batch, write_set)
            for kind, term, found in search_terms:
                batch.put(keys.search_prefix(kind, term) + found.encode(), b"")
            if tree is not None:
                written = self._write_tree(batch, header.height, tree, write_set)
            else:                          # a store of blocks only: no tree versions to rebuild
                batch.put(keys.META_TREE_BASE, height_bytes)
            batch.put(keys.META_LAST_BLOCK_HASH, block_hash)
            batch.put(keys.META_LAST_STATE_ROOT, header.state_root)
            batch.put(keys.META_LAST_HEIGHT, height_bytes)
        return written

    def _write_tree(self, batch: WriteBatch, height: int, tree: TreeUpdate,
                    write_set: Mapping[bytes, bytes | None]) -> "_TreeWrite":
        """The tree's version ``height``, and what leaves the proof window with it.

        The version's nodes stay in memory, and its write-set is recorded to
        rebuild them, until a promotion (every ``TREE_BASE_EVERY_BLOCKS``
        heights) writes the nodes it reads to disk and makes it the base, or
        a spill (past ``tree_memory_bytes``) writes every node held."""
        layers = self._layers
        replaced_on_disk = [node_key for node_key in tree.stale if layers.on_disk(node_key)]
        if layers.held_bytes > self.tree_memory_bytes:
            to_disk, retired = layers.spill(tree)
            replaced_on_disk.extend(retired)
            written = _TreeWrite(to_disk, replaced_on_disk, spilled=True)
        elif height - layers.base > min(self.tree_base_every_blocks, self.proof_window_blocks - 1):   # the base stays provable
            written = _TreeWrite(layers.promotion(tree), replaced_on_disk, promoted=True)
        else:
            written = _TreeWrite({}, replaced_on_disk)
            batch.put(keys.tree_changes_key(height), _pack_changes(write_set))
        new_base = written.promoted or written.spilled
        if new_base:
            for node_key, raw in written.to_disk.items():
                batch.put(keys.tree_node_key(node_key), raw)
            for below in range(layers.base + 1, height):
                batch.delete(keys.tree_changes_key(below))
        batch.put(keys.META_TREE_BASE, keys.encode_height(height if new_base else layers.base))
        batch.put(keys.META_STATE_SCHEME, STORED_SCHEME.encode())
        batch.put(keys.tree_root_key(height), tree.root or b"")
        # Versions height - window + 1 .. height stay; a node replaced at or
        # below the oldest of them is read by none of them. Each commit moves
        # the window by one height, or by more once after the window was
        # lowered between runs: every earlier record goes, not just one.
        oldest = height - self.proof_window_blocks + 1
        stale_lists = [unpack_trusted(raw) for raw in self._take_records_up_to(batch, keys.TREE_STALE, oldest, written.lowest_kept)]
        if oldest == height:               # a window of one height: this update's replaced nodes go at once
            stale_lists.append(replaced_on_disk)
        elif replaced_on_disk:
            batch.put(keys.tree_stale_key(height), pack(replaced_on_disk))
        for stale in stale_lists:
            for node_key in stale:
                batch.delete(keys.tree_node_key(node_key))
        self._take_records_up_to(batch, keys.TREE_ROOT, oldest - 1, written.lowest_kept)
        return written

    def _tree_written(self, height: int, tree: TreeUpdate, written: "_TreeWrite") -> None:
        """The batch of version ``height`` is durable: memory and the node cache follow it."""
        self._layers.settle(height, tree, base=written.promoted, spilled=written.spilled)
        self._layers.forget_up_to(height - self.proof_window_blocks + 1)
        self._tree_nodes.written(TreeUpdate(tree.root, written.to_disk, written.replaced_on_disk))
        self._lowest_kept.update(written.lowest_kept)

    def _take_records_up_to(self, batch: WriteBatch, prefix: bytes, height: int, lowest_kept: dict[bytes, int]) -> list[bytes]:
        """The records under ``prefix`` keyed by a height at or below
        ``height``, in height order, each deleted in ``batch``. Read key by
        key from the lowest height that may still hold one: a scan from the
        prefix would walk past every record deleted before, which LevelDB
        keeps as a marker until a compaction, more of them every block.
        That height moves up in ``lowest_kept``, to take effect once the
        batch is durable: after a failed batch the records are still there."""
        if height < 0:
            return []
        start = self._lowest_kept.get(prefix)
        if start is None:                 # once a run: where the kept records begin
            first = next(iter(self.kv.iterate_prefix(prefix)), None)
            start = keys.decode_height(first[0][len(prefix):]) if first is not None else height + 1
        taken = []
        for kept in range(start, height + 1):
            key = prefix + keys.encode_height(kept)
            raw = self.kv.get(key)
            if raw is not None:
                batch.delete(key)
                taken.append(raw)
        lowest_kept[prefix] = max(start, height + 1)
        return taken

    # -- reads ------------------------------------------------------------------

    def block_by_height(self, height: int) -> Block | None:
        raw = self.kv.get(keys.block_key(height))
        return None if raw is None else decode_block(raw, len(raw))

    def header(self, height: int) -> Header | None:
        """A committed block's header, without decoding its transactions."""
        raw = self.kv.get(keys.block_key(height))
        return None if raw is None else stored_header(raw)

    def height_of_hash(self, block_hash: bytes) -> int | None:
        raw = self.kv.get(keys.block_hash_key(block_hash))
        return None if raw is None else keys.decode_height(raw)

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        height = self.height_of_hash(block_hash)
        return None if height is None else self.block_by_height(height)

    def certificate(self, height: int) -> CommitCertificate | None:
        raw = self.kv.get(keys.certificate_key(height))
        return None if raw is None else decode_certificate(raw, max_votes=len(raw))

    def results(self, height: int) -> list[TxResult] | None:
        raw = self.kv.get(keys.results_key(height))
        return None if raw is None else [TxResult.decode(item) for item in unpack(raw, len(raw))]

    def tx_location(self, tx_id: str) -> tuple[int, int] | None:
        try:
            id_bytes = bytes.fromhex(tx_id)
        except ValueError:
            return None
        raw = self.kv.get(keys.tx_location_key(id_bytes))
        return None if raw is None else keys.decode_location(raw)

    def transaction(self, tx_id: str) -> StoredTransaction | None:
        location = self.tx_location(tx_id)
        if location is None:
            return None
        height, index = location
        block, results = self.kv.get(keys.block_key(height)), self.kv.get(keys.results_key(height))
        if block is None or results is None:
            raise RuntimeError(f"transaction index points at missing height {height}: the store is damaged")
        # One transaction and its result, the rest of the block left undecoded (a full block costs ~20 ms to decode).
        return StoredTransaction(unpack_item_trusted(block, 1, index), TxResult.decode(unpack_item_trusted(results, index)),
                                 height, index, stored_header(block).hash())

    def evidence(self) -> Iterator[tuple[int, bytes]]:
        """Every committed evidence record with the height that included it, by id."""
        for _, value in self.kv.iterate_prefix(keys.EVIDENCE):
            height, record = unpack(value, len(value))
            yield height, record

    def search(self, kind: str, term: str, limit: int | None = None) -> list[str]:
        """What ``term`` of ``kind`` finds (commerce/search.py), in key order, at most ``limit``."""
        prefix = keys.search_prefix(kind, term)
        found = (key[len(prefix):].decode() for key, _ in self.kv.iterate_prefix(prefix))
        return list(itertools.islice(found, limit))

    def state(self) -> StateView:
        return StateView(self.kv)

    def close(self) -> None:
        self.kv.close()


@dataclass(frozen=True, slots=True)
class _TreeWrite:
    """What a height's batch did with the state tree's nodes."""

    to_disk: dict[bytes, bytes]        # nodes written
    replaced_on_disk: list[bytes]      # nodes on disk to delete once the height leaves the proof window
    promoted: bool = False             # the height is the new base
    spilled: bool = False              # everything held in memory went to disk
    lowest_kept: dict[bytes, int] = field(default_factory=dict)   # BlockStore._lowest_kept once the batch is durable


class _StoredNodes:
    """The tree's nodes as LevelDB (or its twin) holds them."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def get_node(self, node_key: bytes) -> bytes | None:
        return self.kv.get(keys.tree_node_key(node_key))


def stored_height(kv: KeyValueReader) -> int:
    """The last height a database holds, read without opening a store over it (which rebuilds the tree's
    versions above its base)."""
    raw = kv.get(keys.META_LAST_HEIGHT)
    return 0 if raw is None else keys.decode_height(raw)


def _write_state(batch: WriteBatch, write_set: Mapping[bytes, bytes | None]) -> None:
    for key in sorted(write_set):
        value = write_set[key]
        if value is None:
            batch.delete(keys.state_key(key))
        else:
            batch.put(keys.state_key(key), value)


def _pack_changes(write_set: Mapping[bytes, bytes | None]) -> bytes:
    """A write-set as its record above the tree's base: [key, value] a key written, [key] a key deleted."""
    return pack([[key] if value is None else [key, value] for key, value in sorted(write_set.items())])


def _unpack_changes(raw: bytes) -> dict[bytes, bytes | None]:
    return {entry[0]: entry[1] if len(entry) == 2 else None for entry in unpack_trusted(raw)}


def open_block_store(data_dir: str | Path, proof_window_blocks: int = PROOF_WINDOW_BLOCKS,
                     tree_memory_bytes: int = TREE_MEMORY_BYTES) -> BlockStore:
    """Open (creating if needed) the LevelDB store of a node home's ``data/``."""
    kv = LevelDBStore(data_dir, uncached=keys.TREE_NODE + keys.TREE_STALE + keys.TREE_CHANGES)
    try:
        return BlockStore(kv, proof_window_blocks, tree_memory_bytes)
    except BaseException:
        kv.close()
        raise
