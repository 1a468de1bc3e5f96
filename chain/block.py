"""Block headers, block hashes and blocks (docs/protocol.md section 5).

A header is a map with exactly the fields of ``Header``; the block hash is
SHA-256 of the packed header. A block is the header, the signed transactions
(their raw bytes) and the evidence records (their packed bytes); on the wire
and on disk it is ``pack([header_map, [tx, ...], [evidence, ...]])``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from chain.constants import (EVIDENCE_BYTES_MAX, EVIDENCE_PER_BLOCK_MAX, HASH_BYTES, HEADER_VERSION, MAX_UINT64,
                             PUBLIC_KEY_BYTES)
from chain.encoding import pack, unpack, unpack_item_trusted
from chain.errors import BlockError, DecodeError
from chain.hashing import sha256
from chain.merkle import merkle_root

_HASH_FIELDS = (
    "prev_hash", "tx_root", "results_root", "evidence_root",
    "state_root", "validators_hash", "next_validators_hash",
)
_INT_FIELDS = ("version", "height", "time_ms", "tx_count")


@dataclass(frozen=True, slots=True)
class Header:
    version: int
    chain_id: str
    height: int
    prev_hash: bytes
    time_ms: int
    proposer: bytes
    tx_count: int
    tx_root: bytes
    results_root: bytes
    evidence_root: bytes
    state_root: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    # The hash, computed on first use: a replica asks for it on every vote it counts.
    _hash: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def to_map(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HEADER_FIELDS}

    def encode(self) -> bytes:
        return pack(self.to_map())

    def hash(self) -> bytes:
        if self._hash is None:
            object.__setattr__(self, "_hash", sha256(self.encode()))
        return self._hash

    @classmethod
    def from_map(cls, value: Any) -> "Header":
        if not isinstance(value, dict) or set(value) != set(HEADER_FIELDS):
            raise BlockError("block.malformed_header", f"a header has exactly the fields {', '.join(HEADER_FIELDS)}")
        _check_header_types(value)
        return cls(**value)


HEADER_FIELDS = tuple(item.name for item in fields(Header) if item.init)


def _check_header_types(value: dict[str, Any]) -> None:
    for name in _INT_FIELDS:
        if type(value[name]) is not int or not 0 <= value[name] <= MAX_UINT64:
            raise BlockError("block.malformed_header", f"header field {name} must be a non-negative integer")
    for name in _HASH_FIELDS:
        if not isinstance(value[name], bytes) or len(value[name]) != HASH_BYTES:
            raise BlockError("block.malformed_header", f"header field {name} must be {HASH_BYTES} bytes")
    if not isinstance(value["proposer"], bytes) or len(value["proposer"]) != PUBLIC_KEY_BYTES:
        raise BlockError("block.malformed_header", f"header field proposer must be a {PUBLIC_KEY_BYTES}-byte public key")
    if not isinstance(value["chain_id"], str):
        raise BlockError("block.malformed_header", "header field chain_id must be a str")
    if value["version"] != HEADER_VERSION:
        raise BlockError("block.bad_version", f"header version must be {HEADER_VERSION}; upgrade the node")
    if value["height"] < 1:
        raise BlockError("block.malformed_header", "the first block has height 1")


def decode_header(raw: bytes) -> Header:
    try:
        return Header.from_map(unpack(raw))
    except DecodeError as error:
        raise BlockError("block.malformed_header", f"header bytes are not canonical ({error.code})") from None


@dataclass(frozen=True, slots=True)
class Block:
    header: Header
    txs: tuple[bytes, ...]
    evidence: tuple[bytes, ...] = ()

    def to_list(self) -> list[Any]:
        return [self.header.to_map(), list(self.txs), list(self.evidence)]

    def encode(self) -> bytes:
        return pack(self.to_list())

    def hash(self) -> bytes:
        return self.header.hash()

    @property
    def height(self) -> int:
        return self.header.height


# A block's encoding beyond its transactions' bytes: its header and the list
# headers (well under this), and before each transaction or evidence record
# a byte string's header (at most 5 bytes, bin 32).
_BLOCK_FRAMING_BYTES = 2048
_ITEM_FRAMING_BYTES = 5


def block_encoding_bytes_max(block_bytes_max: int, block_txs_max: int) -> int:
    """The most bytes a block within the chain's caps encodes to, its evidence included."""
    return (block_bytes_max + block_txs_max * _ITEM_FRAMING_BYTES + _BLOCK_FRAMING_BYTES
            + EVIDENCE_PER_BLOCK_MAX * (EVIDENCE_BYTES_MAX + _ITEM_FRAMING_BYTES))


def decode_block(raw: bytes, max_bytes: int) -> Block:
    """Decode a block and check that its body matches what its header commits."""
    try:
        items = unpack(raw, max_bytes)
    except DecodeError as error:
        raise BlockError("block.malformed", f"block bytes are not canonical ({error.code}): {error.message}") from None
    block = block_from_list(items)
    check_block_body(block)
    return block


def stored_header(raw: bytes) -> Header:
    """The header of a block this node stored, its transactions left undecoded:
    a read that needs the header alone costs the same for a full block."""
    return Header.from_map(unpack_item_trusted(raw, 0))


def block_from_list(items: Any) -> Block:
    """The block in a decoded ``[header_map, [tx, ...], [evidence, ...]]``, its
    structure and header checked (its body against the header is not)."""
    if not isinstance(items, list) or len(items) != 3 or not isinstance(items[1], list) or not isinstance(items[2], list):
        raise BlockError("block.malformed", "a block is [header, [tx, ...], [evidence, ...]]")
    if not all(isinstance(item, bytes) for item in items[1] + items[2]):
        raise BlockError("block.malformed", "transactions and evidence records are byte strings")
    return Block(Header.from_map(items[0]), tuple(items[1]), tuple(items[2]))


def check_block_body(block: Block) -> None:
    """Raise BlockError unless the transactions and evidence match the header's roots."""
    header = block.header
    if header.tx_count != len(block.txs):
        raise BlockError("block.bad_tx_count", f"header says {header.tx_count} transactions, body has {len(block.txs)}")
    if merkle_root(block.txs) != header.tx_root:
        raise BlockError("block.bad_tx_root", "transactions do not match the header's tx_root")
    if merkle_root(block.evidence) != header.evidence_root:
        raise BlockError("block.bad_evidence_root", "evidence does not match the header's evidence_root")
