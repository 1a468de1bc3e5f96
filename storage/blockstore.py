"""The block store: committed blocks, certificates, results, indexes and state.

``commit`` writes a block, its certificate, its results, the transaction
index, the block's state write-set and the new metadata in ONE write batch
with ``sync=True``: a crash leaves the store at the old height or the new
one, never between, and there is no log to replay (docs/architecture.md,
storage/). Only the node's commit path writes; everything else reads.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from chain.block import Block, decode_block
from chain.encoding import pack, unpack
from chain.kv import KeyValueStore, WriteBatch
from chain.results import TxResult
from chain.votes import CommitCertificate, decode_certificate
from storage import keys
from storage.leveldb import LevelDBStore


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
    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    # -- metadata -------------------------------------------------------------

    def last_height(self) -> int:
        raw = self.kv.get(keys.META_LAST_HEIGHT)
        return 0 if raw is None else keys.decode_height(raw)

    def last_block_hash(self) -> bytes | None:
        return self.kv.get(keys.META_LAST_BLOCK_HASH)

    def last_state_root(self) -> bytes | None:
        return self.kv.get(keys.META_LAST_STATE_ROOT)

    def genesis_hash(self) -> bytes | None:
        return self.kv.get(keys.META_GENESIS_HASH)

    # -- writes -----------------------------------------------------------------

    def commit_genesis(self, genesis_hash: bytes, write_set: Mapping[bytes, bytes | None], state_root: bytes) -> None:
        """Write the genesis state at height 0, once."""
        if self.genesis_hash() is not None:
            raise RuntimeError("genesis is already committed to this store")
        with self.kv.write_batch(sync=True) as batch:
            _write_state(batch, write_set)
            batch.put(keys.META_GENESIS_HASH, genesis_hash)
            batch.put(keys.META_LAST_BLOCK_HASH, genesis_hash)
            batch.put(keys.META_LAST_STATE_ROOT, state_root)
            batch.put(keys.META_LAST_HEIGHT, keys.encode_height(0))

    def commit(self, block: Block, certificate: CommitCertificate, results: Sequence[TxResult],
               write_set: Mapping[bytes, bytes | None]) -> None:
        """Persist a committed block and everything it produced, atomically and durably.

        The block must extend the stored chain. Block 1 on a store without a
        genesis commit is taken with whatever ``prev_hash`` it carries (the
        genesis hash), which is stored as the genesis hash.
        """
        header = block.header
        if header.height != self.last_height() + 1:
            raise RuntimeError(f"block {header.height} does not follow the stored height {self.last_height()}")
        first_without_genesis = header.height == 1 and self.genesis_hash() is None
        if not first_without_genesis and header.prev_hash != self.last_block_hash():
            raise RuntimeError(f"block {header.height} does not link to the stored block hash")
        if len(results) != len(block.txs):
            raise RuntimeError("one result per transaction is stored")
        block_hash = block.hash()
        height_bytes = keys.encode_height(header.height)
        with self.kv.write_batch(sync=True) as batch:
            if first_without_genesis:
                batch.put(keys.META_GENESIS_HASH, header.prev_hash)
            batch.put(keys.block_key(header.height), block.encode())
            batch.put(keys.block_hash_key(block_hash), height_bytes)
            batch.put(keys.certificate_key(header.height), certificate.encode())
            batch.put(keys.results_key(header.height), pack([result.encode() for result in results]))
            for index, raw in enumerate(block.txs):
                batch.put(keys.tx_location_key(hashlib.sha256(raw).digest()), keys.encode_location(header.height, index))
            for record in block.evidence:
                batch.put(keys.evidence_key(hashlib.sha256(record).digest()), pack([header.height, record]))
            _write_state(batch, write_set)
            batch.put(keys.META_LAST_BLOCK_HASH, block_hash)
            batch.put(keys.META_LAST_STATE_ROOT, header.state_root)
            batch.put(keys.META_LAST_HEIGHT, height_bytes)

    # -- reads ------------------------------------------------------------------

    def block_by_height(self, height: int) -> Block | None:
        raw = self.kv.get(keys.block_key(height))
        return None if raw is None else decode_block(raw, len(raw))

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
        block = self.block_by_height(height)
        results = self.results(height)
        if block is None or results is None:
            raise RuntimeError(f"transaction index points at missing height {height}: the store is damaged")
        return StoredTransaction(block.txs[index], results[index], height, index, block.hash())

    def evidence(self) -> Iterator[tuple[int, bytes]]:
        """Every committed evidence record with the height that included it, by id."""
        for _, value in self.kv.iterate_prefix(keys.EVIDENCE):
            height, record = unpack(value, len(value))
            yield height, record

    def state(self) -> StateView:
        return StateView(self.kv)

    def close(self) -> None:
        self.kv.close()


def _write_state(batch: WriteBatch, write_set: Mapping[bytes, bytes | None]) -> None:
    for key in sorted(write_set):
        value = write_set[key]
        if value is None:
            batch.delete(keys.state_key(key))
        else:
            batch.put(keys.state_key(key), value)


def open_block_store(data_dir: str | Path) -> BlockStore:
    """Open (creating if needed) the LevelDB store of a node home's ``data/``."""
    return BlockStore(LevelDBStore(data_dir))
