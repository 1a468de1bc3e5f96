"""The key layout of the node's database (docs/architecture.md, storage/).

Every key starts with one type byte, followed by fixed-length parts (heights
as 8-byte big-endian, so byte order is height order; indexes as 4 bytes;
hashes as 32 bytes) or, for state keys, the state key itself as the last
part. No key of one type can be a prefix of a key of another type, and each
type's own keys cannot collide because their parts have fixed lengths.
"""
from __future__ import annotations

# Type bytes. Their values are arbitrary but written to disk, so each is fixed
# forever: never renumber or reuse one. One byte leaves room for 256 types.
META = b"\x00"  # + a metadata name (below)
BLOCK = b"\x01"  # + height -> packed block
BLOCK_HASH = b"\x02"  # + block hash -> height
CERTIFICATE = b"\x03"  # + height -> packed commit certificate
TX_LOCATION = b"\x04"  # + transaction id (32 bytes) -> height + index
RESULTS = b"\x05"  # + height -> packed list of the block's results
STATE = b"\x06"  # + state key (variable length, so nothing follows it) -> state value
EVIDENCE = b"\x07"  # + evidence id (32 bytes) -> packed [height, record]
TREE_NODE = b"\x08"  # + state tree node key (version, depth, prefix) -> stored node
TREE_ROOT = b"\x09"  # + height -> the state tree's root reference at that height (empty: the empty tree)
TREE_STALE = b"\x0a"  # + height -> packed list of the node keys replaced at that height
SEARCH = b"\x0b"  # + search term (search_key) + the id it finds -> empty (commerce/search.py)
TREE_CHANGES = b"\x0c"  # + height -> the block's write-set, packed ([key, value] or [key] deleted), above the tree's base

# Metadata names: a fixed set, none a prefix of another.
META_LAST_HEIGHT = META + b"last_height"
META_LAST_BLOCK_HASH = META + b"last_block_hash"
META_LAST_STATE_ROOT = META + b"last_state_root"
META_GENESIS_HASH = META + b"genesis_hash"
META_STATE_SCHEME = META + b"state_scheme"
META_TREE_BASE = META + b"tree_base"  # the height whose whole state tree version is on disk (absent: the last height)

# Big-endian, so bytewise key order is height order; 8 bytes hold any height
# a chain will reach (2**64 blocks).
HEIGHT_BYTES = 8
# A transaction's index in its block; blocks are capped far below 2**32 transactions.
INDEX_BYTES = 4


def encode_height(height: int) -> bytes:
    return height.to_bytes(HEIGHT_BYTES, "big")


def decode_height(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def block_key(height: int) -> bytes:
    return BLOCK + encode_height(height)


def block_hash_key(block_hash: bytes) -> bytes:
    return BLOCK_HASH + block_hash


def certificate_key(height: int) -> bytes:
    return CERTIFICATE + encode_height(height)


def tx_location_key(tx_id: bytes) -> bytes:
    return TX_LOCATION + tx_id


def encode_location(height: int, index: int) -> bytes:
    return encode_height(height) + index.to_bytes(INDEX_BYTES, "big")


def decode_location(raw: bytes) -> tuple[int, int]:
    return decode_height(raw[:HEIGHT_BYTES]), int.from_bytes(raw[HEIGHT_BYTES:], "big")


def results_key(height: int) -> bytes:
    return RESULTS + encode_height(height)


def state_key(key: bytes) -> bytes:
    return STATE + key


def evidence_key(evidence_id: bytes) -> bytes:
    return EVIDENCE + evidence_id


def search_prefix(kind: str, term: str) -> bytes:
    """Every id a search term finds lies under this prefix: the kind and the
    term, each after its length, so no term is a prefix of another's keys."""
    kind_bytes, term_bytes = kind.encode(), term.encode()
    return SEARCH + len(kind_bytes).to_bytes(1, "big") + kind_bytes + len(term_bytes).to_bytes(2, "big") + term_bytes


def tree_node_key(node_key: bytes) -> bytes:
    return TREE_NODE + node_key


def tree_root_key(height: int) -> bytes:
    return TREE_ROOT + encode_height(height)


def tree_stale_key(height: int) -> bytes:
    return TREE_STALE + encode_height(height)


def tree_changes_key(height: int) -> bytes:
    return TREE_CHANGES + encode_height(height)
