"""The authenticated state: a versioned sparse Merkle tree with path
compression over the whole key-value state (a Jellyfish-style tree).

Shape. A state key's *path* is SHA-256(key): 256 bits read ``radix_bits``
at a time from the most significant bit, each chunk a *digit*. A subtree
holding no key is empty; one holding one key is that key's leaf, however
deep the subtree (path compression); one holding more is an internal node
whose children are the subtrees of each digit at the next depth. An
internal node may have a single child, but never a single leaf child.

Hashes (``H`` = SHA-256, the prefixes keep the two kinds and other
structures of the chain apart):

- empty subtree: 32 zero bytes (``EMPTY_ROOT``);
- leaf: ``H(0x02 || path || H(value))``;
- internal: ``H(0x03 || bitmap || child hashes in digit order)``, where
  ``bitmap`` has bit d set for each digit d with a non-empty child,
  ``2 ** radix_bits`` bits, big-endian, in at least one byte.

Versions. Every update makes a new version of the tree from an earlier
one; nodes are never changed, only written under a new *node key* (version,
depth, path prefix), so any version kept is readable and provable. An update
returns the nodes to write and the node keys it replaced (stale from that
version on, to prune once no version still kept reads them).

Proofs. A proof for a path at a version lists, from the root down, each
internal node on the way as (bitmap, the hashes of its other children in
digit order), and ends in what the way ends in: the leaf found there (its
path and value hash) or nothing (an empty child). It proves the key's value
hash, or the key's absence: when the way ends in nothing, or in a leaf of
another path (that leaf would be an internal node if both keys were there).

Pure: the caller gives a ``NodeReader`` (LevelDB in storage/, a dict in
tests and the simulator).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Protocol

from chain.encoding import pack, unpack
from chain.errors import CodedError, DecodeError

EMPTY_ROOT = bytes(32)
# The chain's tree: 16 children a node (docs/protocol.md section 7 says why).
STATE_TREE_RADIX_BITS = 4
# What genesis and the database name the scheme behind state_root by.
STATE_SCHEME = "sparse-merkle-16/sha256"
_LEAF = b"\x02"
_INTERNAL = b"\x03"


class StateProofError(CodedError):
    """A state proof that does not connect its key and value to the root."""


def key_path(key: bytes) -> bytes:
    """Where a state key lives in the tree."""
    return hashlib.sha256(key).digest()


def value_hash(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def leaf_hash(path: bytes, hashed_value: bytes) -> bytes:
    return hashlib.sha256(_LEAF + path + hashed_value).digest()


# A reference to a stored node, as it sits in its parent: the node's hash
# (32 bytes), the version it was written at (8 bytes, big-endian) and 1 if
# it is a leaf, else 0. The root of a version is such a reference too (None:
# the empty tree).
def ref_hash(ref: bytes | None) -> bytes:
    return EMPTY_ROOT if ref is None else ref[:32]


def ref_version(ref: bytes) -> int:
    return int.from_bytes(ref[32:40], "big")


def ref_is_leaf(ref: bytes) -> bool:
    return ref[40] == 1


@dataclass(frozen=True, slots=True)
class Leaf:
    path: bytes
    hashed_value: bytes

    def hash(self) -> bytes:
        return leaf_hash(self.path, self.hashed_value)


def internal_hash(radix_bits: int, children: Iterable[tuple[int, bytes]]) -> bytes:
    bitmap, hashes = 0, []
    for digit_value, child_hash in children:
        bitmap |= 1 << digit_value
        hashes.append(child_hash)
    return hashlib.sha256(_INTERNAL + bitmap.to_bytes(_bitmap_bytes(radix_bits), "big") + b"".join(hashes)).digest()


def _bitmap_bytes(radix_bits: int) -> int:
    return max(1, (1 << radix_bits) // 8)


def digit(path: bytes, depth: int, radix_bits: int) -> int:
    """The ``depth``-th digit of ``path``."""
    start = depth * radix_bits
    byte = path[start >> 3]
    return (byte >> (8 - radix_bits - (start & 7))) & ((1 << radix_bits) - 1)


def _with_digit(path: bytes, depth: int, value: int, radix_bits: int) -> bytes:
    """``path`` with its ``depth``-th digit set to ``value``."""
    start = depth * radix_bits
    shift = 8 - radix_bits - (start & 7)
    index = start >> 3
    mask = ((1 << radix_bits) - 1) << shift
    return path[:index] + bytes([(path[index] & ~mask & 0xFF) | (value << shift)]) + path[index + 1:]


def node_key(version: int, depth: int, path: bytes, radix_bits: int) -> bytes:
    """The storage key of the node written at ``version`` for the subtree of
    ``path``'s first ``depth`` digits: version (8 bytes, big-endian), then
    the subtree's place (``_place``)."""
    return version.to_bytes(8, "big") + _place(depth, path, radix_bits)


def _place(depth: int, path: bytes, radix_bits: int) -> bytes:
    """A subtree's place: its depth (1 byte), then its prefix's bytes with the bits past it cleared."""
    whole, rest = divmod(depth * radix_bits, 8)
    if rest:
        return bytes([depth]) + path[:whole] + bytes([path[whole] & (0xFF << (8 - rest)) & 0xFF])
    return bytes([depth]) + path[:whole]


def _pruned(ref: bytes) -> CodedError:
    return CodedError("state.pruned", f"the state tree node of version {ref_version(ref)} is not kept here; "
                                      "ask for a recent height")


# Stored nodes: a leaf is 0x00 || path || value hash || value (so a kept
# version can answer with its values, not only prove them); an internal node
# is 0x01 || bitmap || its children's hashes || their (version, leaf flag)
# pairs, each in digit order: bitmap and hashes are what its own hash covers,
# so a changed child is spliced in place and the hash taken over one slice.
_META_BYTES = 9
_STORED_LEAF = 0
_STORED_INTERNAL = 1


def is_stored_internal(raw: bytes) -> bool:
    """Whether a stored node is an internal node (else a leaf)."""
    return raw[0] == _STORED_INTERNAL


def decode_leaf(raw: bytes) -> tuple[Leaf, bytes]:
    """A stored leaf and the value it holds."""
    if len(raw) < 65 or raw[0] != _STORED_LEAF:
        raise _corrupt("a leaf is 0x00, path, value hash, value")
    return Leaf(raw[1:33], raw[33:65]), raw[65:]


def _split_internal(raw: bytes, width: int) -> tuple[int, bytes, bytes]:
    """A stored internal node's bitmap, children's hashes and their (version, leaf flag) pairs."""
    if not raw or raw[0] != _STORED_INTERNAL:
        raise _corrupt("an internal node starts with 0x01")
    bitmap = int.from_bytes(raw[1:1 + width], "big")
    count = bitmap.bit_count()
    hashes_end = 1 + width + 32 * count
    if not count or len(raw) != hashes_end + _META_BYTES * count:
        raise _corrupt("an internal node's length does not fit its bitmap")
    return bitmap, raw[1 + width:hashes_end], raw[hashes_end:]


def decode_internal(raw: bytes, radix_bits: int) -> dict[int, bytes]:
    """The child references of a stored internal node, by digit."""
    bitmap, hashes, metas = _split_internal(raw, _bitmap_bytes(radix_bits))
    digits = [d for d in range(1 << radix_bits) if bitmap >> d & 1]
    return {d: hashes[32 * i:32 * i + 32] + metas[_META_BYTES * i:_META_BYTES * (i + 1)] for i, d in enumerate(digits)}


def _corrupt(what: str) -> CodedError:
    return CodedError("storage.corrupt", f"a state tree node does not decode ({what}); resync this node into an empty data/")


class NodeReader(Protocol):
    def get_node(self, key: bytes) -> bytes | None:
        """The stored node under ``key``, or None."""


@dataclass
class TreeUpdate:
    """What an update makes: the new root reference, the nodes to write
    (node key → stored node) and the node keys it replaced."""

    root: bytes | None
    nodes: dict[bytes, bytes] = field(default_factory=dict)
    stale: list[bytes] = field(default_factory=list)

    @property
    def root_hash(self) -> bytes:
        return ref_hash(self.root)


@dataclass(frozen=True, slots=True)
class StateProof:
    """The way from the root to a path: each internal node's bitmap and
    sibling hashes, then the leaf found at its end (None: an empty child)."""

    levels: tuple[tuple[int, tuple[bytes, ...]], ...]
    leaf: Leaf | None

    def encode(self, radix_bits: int) -> bytes:
        width = _bitmap_bytes(radix_bits)
        end = [] if self.leaf is None else [self.leaf.path, self.leaf.hashed_value]
        return pack([[[bitmap.to_bytes(width, "big"), list(siblings)] for bitmap, siblings in self.levels], end])

    @classmethod
    def decode(cls, raw: bytes, radix_bits: int) -> "StateProof":
        try:
            levels, end = unpack(raw, (256 // radix_bits) * ((1 << radix_bits) * 40 + 64) + 128)
            parsed = []
            for bitmap, siblings in levels:
                if (not isinstance(bitmap, bytes) or len(bitmap) != _bitmap_bytes(radix_bits)
                        or not all(isinstance(s, bytes) and len(s) == 32 for s in siblings)):
                    raise ValueError("a level is [bitmap bytes, [32-byte hashes]]")
                parsed.append((int.from_bytes(bitmap, "big"), tuple(siblings)))
            if end and not (len(end) == 2 and all(isinstance(x, bytes) and len(x) == 32 for x in end)):
                raise ValueError("the end is [] or [path, value hash]")
            leaf = Leaf(end[0], end[1]) if end else None
        except (DecodeError, TypeError, ValueError) as error:
            raise StateProofError("proof.malformed", f"the state proof does not decode ({error})") from None
        if len(parsed) > 256 // radix_bits:
            raise StateProofError("proof.malformed", "the state proof is deeper than the tree can be")
        return cls(tuple(parsed), leaf)


class StateTree:
    """Reads and updates versions of the tree through ``reader``."""

    def __init__(self, reader: NodeReader, radix_bits: int = 4) -> None:
        if radix_bits not in (1, 2, 4, 8):
            raise ValueError("radix_bits is 1, 2, 4 or 8")
        self.reader = reader
        self.radix_bits = radix_bits
        self._width = _bitmap_bytes(radix_bits)
        # _place's parts by depth, computed once: (depth byte, whole bytes of the prefix, mask of its last byte)
        self._places = [(bytes([depth]), depth * radix_bits // 8, (0xFF << (8 - depth * radix_bits % 8)) & 0xFF)
                        for depth in range(256 // radix_bits)]

    def _place(self, depth: int, path: bytes) -> bytes:
        """The module's ``_place`` for this tree's radix, from the table."""
        head, whole, mask = self._places[depth]
        if mask:
            return head + path[:whole] + bytes((path[whole] & mask,))
        return head + path[:whole]

    # -- reading ------------------------------------------------------------------------

    def _read(self, ref: bytes, depth: int, path: bytes) -> bytes:
        raw = self.reader.get_node(ref[32:40] + self._place(depth, path))
        if raw is None:
            raise _pruned(ref)
        return raw

    def get(self, root: bytes | None, path: bytes) -> bytes | None:
        """The value at ``path`` in the version whose root is ``root``."""
        found, _ = self._walk(root, path, prove=False)
        return found

    def prove(self, root: bytes | None, path: bytes) -> tuple[bytes | None, StateProof]:
        """The value at ``path`` (None: absent) and its proof."""
        return self._walk(root, path, prove=True)

    def _walk(self, root: bytes | None, path: bytes, prove: bool) -> tuple[bytes | None, StateProof]:
        levels: list[tuple[int, tuple[bytes, ...]]] = []
        ref, depth = root, 0
        while ref is not None:
            raw = self._read(ref, depth, path)
            if ref_is_leaf(ref):
                leaf, value = decode_leaf(raw)
                return (value if leaf.path == path else None), StateProof(tuple(levels), leaf)
            children = decode_internal(raw, self.radix_bits)
            here = digit(path, depth, self.radix_bits)
            if prove:
                bitmap = int.from_bytes(raw[1:1 + self._width], "big")
                levels.append((bitmap, tuple(child[:32] for d, child in children.items() if d != here)))
            ref = children.get(here)
            depth += 1
        return None, StateProof(tuple(levels), None)

    # -- updating -----------------------------------------------------------------------

    def update(self, root: bytes | None, changes: Mapping[bytes, bytes | None], version: int,
               previous: Mapping[bytes, bytes | None] | None = None) -> TreeUpdate:
        """Version ``version`` from the one whose root is ``root``: each path
        in ``changes`` set to its value, or removed for None. ``previous``
        may give paths' values in that version (the state the block was
        executed on): a leaf whose hash they reproduce is known to be that
        key's without reading it. A wrong or missing one only costs the read."""
        out = TreeUpdate(root)
        items = sorted(changes.items())
        if items:
            out.root = self._update(root, 0, items, version.to_bytes(8, "big"), previous or {}, out)
        return out

    def _update(self, ref: bytes | None, depth: int, items: list[tuple[bytes, bytes | None]], version: bytes,
                previous: Mapping[bytes, bytes | None], out: TreeUpdate) -> bytes | None:
        """The new subtree at ``depth`` along the paths of ``items`` (all
        sharing the subtree's prefix), from the one ``ref`` names; ``version``
        is the new version's 8 bytes."""
        if ref is None:
            return self._build(depth, [(p, h) for p, h in items if h is not None], version, out)
        if len(items) == 1:
            known = self._known_leaf(ref, depth, items, version, previous, out)
            if known is not None:
                return known or None
        path = items[0][0]
        place = self._place(depth, path)
        old_key = ref[32:40] + place
        raw = self.reader.get_node(old_key)
        if raw is None:
            raise _pruned(ref)
        out.stale.append(old_key)
        if ref[40] == 1:                                   # a leaf
            if len(items) == 1 and raw[1:33] == path:      # the same key: changed or removed
                value = items[0][1]
                return None if value is None else self._leaf_at(place, path, value, version, out)
            leaf, value = decode_leaf(raw)
            merged = dict(items)
            merged.setdefault(leaf.path, value)
            return self._build(depth, sorted((p, h) for p, h in merged.items() if h is not None), version, out)
        bitmap, old_hashes, old_metas = _split_internal(raw, self._width)
        groups = self._groups(depth, items)
        if len(groups) == 1:                               # most nodes below the top levels: one child changes
            here, group = groups[0]
            i = (bitmap & ((1 << here) - 1)).bit_count()
            h, m = 32 * i, _META_BYTES * i
            if bitmap >> here & 1:
                new = self._update(old_hashes[h:h + 32] + old_metas[m:m + _META_BYTES], depth + 1, group, version,
                                   previous, out)
                skip_h, skip_m = h + 32, m + _META_BYTES
            else:
                new = self._build(depth + 1, [(p, v) for p, v in group if v is not None], version, out)
                skip_h, skip_m = h, m
            if new is None:
                bitmap &= ~(1 << here)
                hashes, metas = old_hashes[:h] + old_hashes[skip_h:], old_metas[:m] + old_metas[skip_m:]
            else:
                bitmap |= 1 << here
                hashes = old_hashes[:h] + new[:32] + old_hashes[skip_h:]
                metas = old_metas[:m] + new[32:] + old_metas[skip_m:]
            return self._internal(depth, path, place, bitmap, hashes, metas, version, out)
        hashes, metas = bytearray(old_hashes), bytearray(old_metas)
        # Highest digit first: splicing one child leaves the places of the lower ones as they were.
        for here, group in reversed(groups):
            i = (bitmap & ((1 << here) - 1)).bit_count()
            h, m = 32 * i, _META_BYTES * i
            present = bitmap >> here & 1
            old = bytes(hashes[h:h + 32] + metas[m:m + _META_BYTES]) if present else None
            new = self._update(old, depth + 1, group, version, previous, out)
            if new is None:
                if present:
                    del hashes[h:h + 32]
                    del metas[m:m + _META_BYTES]
                    bitmap &= ~(1 << here)
            elif present:
                hashes[h:h + 32] = new[:32]
                metas[m:m + _META_BYTES] = new[32:]
            else:
                hashes[h:h] = new[:32]
                metas[m:m] = new[32:]
                bitmap |= 1 << here
        return self._internal(depth, path, place, bitmap, bytes(hashes), bytes(metas), version, out)

    def _known_leaf(self, ref: bytes, depth: int, items: list[tuple[bytes, bytes | None]], version: bytes,
                    previous: Mapping[bytes, bytes | None], out: TreeUpdate) -> bytes | None:
        """When ``ref`` is the leaf of the one changed key, known by its hash
        from the key's previous value, the new child (b"": the key removed),
        without reading the leaf; else None."""
        if ref[40] != 1:
            return None
        path, value = items[0]
        before = previous.get(path)
        if before is None or ref[:32] != hashlib.sha256(_LEAF + path + hashlib.sha256(before).digest()).digest():
            return None
        place = self._place(depth, path)
        out.stale.append(ref[32:40] + place)
        return b"" if value is None else self._leaf_at(place, path, value, version, out)

    def _build(self, depth: int, items: list[tuple[bytes, bytes]], version: bytes, out: TreeUpdate) -> bytes | None:
        """A new subtree holding exactly ``items`` (path, value), sorted."""
        if not items:
            return None
        path = items[0][0]
        if len(items) == 1:
            return self._leaf_at(self._place(depth, path), path, items[0][1], version, out)
        bitmap, refs = 0, []
        for here, group in self._groups(depth, items):
            bitmap |= 1 << here
            refs.append(self._build(depth + 1, group, version, out))
        return self._internal(depth, path, self._place(depth, path), bitmap,
                              b"".join([ref[:32] for ref in refs]), b"".join([ref[32:] for ref in refs]), version, out)

    def _internal(self, depth: int, path: bytes, place: bytes, bitmap: int, hashes: bytes, metas: bytes, version: bytes,
                  out: TreeUpdate) -> bytes | None:
        """The node at ``place`` over the children ``bitmap`` names (their
        hashes and (version, leaf flag) pairs in digit order): none, a leaf
        moved up, or an internal node."""
        if not bitmap:
            return None
        if len(metas) == _META_BYTES and metas[8] == 1:
            here, only = bitmap.bit_length() - 1, hashes + metas
            # A single leaf moves up to this depth: it is written again here.
            where = only[32:40] + self._place(depth + 1, _with_digit(path, depth, here, self.radix_bits))
            raw = out.nodes.pop(where, None) if only[32:40] == version else None
            if raw is None:
                raw = self.reader.get_node(where)
                if raw is None:
                    raise _pruned(only)
                out.stale.append(where)
            leaf, value = decode_leaf(raw)
            return self._leaf_at(place, leaf.path, value, version, out)
        bitmap_bytes = bitmap.to_bytes(self._width, "big")
        out.nodes[version + place] = b"\x01" + bitmap_bytes + hashes + metas
        return hashlib.sha256(_INTERNAL + bitmap_bytes + hashes).digest() + version + b"\x00"

    def _leaf_at(self, place: bytes, path: bytes, value: bytes, version: bytes, out: TreeUpdate) -> bytes:
        hashed = hashlib.sha256(value).digest()
        out.nodes[version + place] = b"\x00" + path + hashed + value
        return hashlib.sha256(_LEAF + path + hashed).digest() + version + b"\x01"

    def _groups(self, depth: int, items: list) -> list[tuple[int, list]]:
        """``items`` (sorted by path) split by their digit at ``depth``."""
        start = depth * self.radix_bits
        index, shift, mask = start >> 3, 8 - self.radix_bits - (start & 7), (1 << self.radix_bits) - 1
        if len(items) == 1:
            return [((items[0][0][index] >> shift) & mask, items)]
        groups: list[tuple[int, list]] = []
        last = -1
        for item in items:
            here = (item[0][index] >> shift) & mask
            if here == last:
                groups[-1][1].append(item)
            else:
                groups.append((here, [item]))
                last = here
        return groups


def verify_proof(root_hash: bytes, path: bytes, value: bytes | None, proof: StateProof, radix_bits: int) -> None:
    """Raise StateProofError unless ``proof`` shows that ``path`` holds
    ``value`` (None: that it holds nothing) under ``root_hash``."""
    hashed_value = None if value is None else value_hash(value)
    depth = len(proof.levels)
    if depth > 256 // radix_bits:
        raise StateProofError("proof.malformed", "the state proof is deeper than the tree can be")
    leaf = proof.leaf
    if hashed_value is not None:
        if leaf is None or leaf.path != path or leaf.hashed_value != hashed_value:
            raise StateProofError("proof.mismatch", "the proof ends in another leaf than the key's")
    elif leaf is not None:
        if leaf.path == path:
            raise StateProofError("proof.mismatch", "the proof shows the key present")
        if any(digit(leaf.path, d, radix_bits) != digit(path, d, radix_bits) for d in range(depth)):
            raise StateProofError("proof.mismatch", "the proof's leaf is not on the key's way")
    current = None if leaf is None else leaf.hash()
    for level in range(depth - 1, -1, -1):
        bitmap, siblings = proof.levels[level]
        here = digit(path, level, radix_bits)
        if bitmap >> (1 << radix_bits) or (current is None) == bool(bitmap >> here & 1):
            raise StateProofError("proof.mismatch", f"the bitmap at depth {level} does not fit the way")
        digits = [d for d in range(1 << radix_bits) if bitmap >> d & 1]
        others = [d for d in digits if d != here]
        if len(others) != len(siblings) or not digits:
            raise StateProofError("proof.mismatch", f"the siblings at depth {level} do not fit the bitmap")
        hashes = dict(zip(others, siblings))
        if current is not None:
            hashes[here] = current
        current = internal_hash(radix_bits, sorted(hashes.items()))
    if (current or EMPTY_ROOT) != root_hash:
        raise StateProofError("proof.mismatch", "the proof does not lead to the state root")


def state_changes(write_set: Mapping[bytes, bytes | None]) -> dict[bytes, bytes | None]:
    """A block's write-set as tree changes: each state key's path and its
    value (None: the key is deleted)."""
    return {key_path(key): value for key, value in write_set.items()}


class MemoryNodes:
    """Tree nodes in a dict: for tests, benches and the simulator's twins."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, key: bytes) -> bytes | None:
        return self.nodes.get(key)


@dataclass
class MemoryStateTree:
    """The chain's tree over ``MemoryNodes``, one version after another."""

    nodes: MemoryNodes = field(default_factory=MemoryNodes)
    root: bytes | None = None
    version: int = -1

    def commit(self, write_set: Mapping[bytes, bytes | None]) -> bytes:
        """Apply a block's (or genesis's) write-set as the next version; its root hash."""
        self.version += 1
        update = StateTree(self.nodes, STATE_TREE_RADIX_BITS).update(self.root, state_changes(write_set), self.version)
        self.nodes.nodes.update(update.nodes)
        self.root = update.root
        return update.root_hash

