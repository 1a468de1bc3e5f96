"""The chained state root (docs/protocol.md section 7).

state_root(h) = SHA-256(state_root(h-1) || SHA-256(pack(sorted [[key, value]])))
over the block's write-set, a deleted key written as the empty bin, keys
sorted bytewise; the genesis state's predecessor is 32 zero bytes.
"""
from __future__ import annotations

from typing import Mapping

from chain.encoding import pack_bin_pairs
from chain.hashing import ZERO_HASH, sha256

GENESIS_PREDECESSOR = ZERO_HASH


def write_set_digest(write_set: Mapping[bytes, bytes | None]) -> bytes:
    """``None`` marks a deleted key."""
    return sha256(pack_bin_pairs([[key, write_set[key] or b""] for key in sorted(write_set)]))


def next_state_root(previous_root: bytes, write_set: Mapping[bytes, bytes | None]) -> bytes:
    return sha256(previous_root + write_set_digest(write_set))
