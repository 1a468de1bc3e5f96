"""Block sync: committed blocks with their certificates, fetched from peers.

A node that restarts, falls behind or joins late asks peers for the blocks
above its height. Every block it receives is verified before it is kept:
its certificate is a quorum of COMMITs of our validator set for exactly this
header, its body matches the header's roots, its chain and validator set
are ours. A peer that serves anything else is reported (so the node bans
it) and its range is asked of another peer. Verified blocks are buffered in
a bounded window above our height and handed out strictly in height order,
whatever order they arrived in (sawtooth-pbft PR #166).

``BlockSyncer`` is sans-IO: the node tells it peer heights, responses,
failures and the time, and it answers with the requests to send.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from chain.block import Block, block_encoding_bytes_max, decode_block
from chain.encoding import pack, unpack
from chain.errors import BlockError, CertificateError, DecodeError
from chain.keys import Verify, verify_signature
from chain.validators import ValidatorSet
from chain.votes import SIGNATURE_ENTRY_BYTES_MAX, CommitCertificate, decode_certificate, verify_certificate
from p2p.errors import PeerError


@dataclass(frozen=True, slots=True)
class CertifiedBlock:
    block: Block
    certificate: CommitCertificate

    @property
    def height(self) -> int:
        return self.block.header.height


def encode_sync_request(from_height: int, count: int) -> bytes:
    return pack({"from": from_height, "count": count})


def decode_sync_request(payload: bytes) -> tuple[int, int]:
    """(from, count) of a request; the server sends at most its own
    ``p2p.sync_batch_blocks`` of the count, so nodes configured apart still
    sync from each other."""
    try:
        value = unpack(payload, 256)
    except DecodeError as error:
        raise PeerError("sync.bad_request", f"a sync request is not canonical ({error.code})") from None
    if not isinstance(value, dict) or set(value) != {"from", "count"}:
        raise PeerError("sync.bad_request", "a sync request is {from, count}")
    from_height, count = value["from"], value["count"]
    if type(from_height) is not int or type(count) is not int or from_height < 1 or count < 1:
        raise PeerError("sync.bad_request", "a sync request asks for 1 or more blocks from height 1 or above")
    return from_height, count


# Bounds on what msgpack adds around a response's pairs and its frame: the
# map, the list headers, the message kind.
RESPONSE_OVERHEAD_BYTES = 2048
_PAIR_OVERHEAD_BYTES = 16


def certified_block_bytes_max(block_bytes_max: int, block_txs_max: int, validators: int) -> int:
    """The largest frame one certified block can need: a node whose frame cap
    is smaller could neither serve nor take such a block by sync."""
    return (block_encoding_bytes_max(block_bytes_max, block_txs_max) + validators * SIGNATURE_ENTRY_BYTES_MAX
            + RESPONSE_OVERHEAD_BYTES)


def encode_sync_response(blocks: Iterable[CertifiedBlock], frame_bytes_max: int) -> bytes:
    """The longest run of ``blocks`` from the first whose response fits one
    frame of ``frame_bytes_max`` (the first always does, when the frame cap
    holds a certified block of the chain's ``block_bytes_max``); the asker
    asks again from where the run ends."""
    pairs, size = [], RESPONSE_OVERHEAD_BYTES
    for item in blocks:
        pair = [item.block.encode(), item.certificate.encode()]
        size += len(pair[0]) + len(pair[1]) + _PAIR_OVERHEAD_BYTES
        if pairs and size > frame_bytes_max:
            break
        pairs.append(pair)
    return pack({"blocks": pairs})


def decode_sync_response(payload: bytes, frame_bytes_max: int, count_max: int) -> list[tuple[bytes, bytes]]:
    """The (block bytes, certificate bytes) pairs of a response, not yet verified."""
    try:
        value = unpack(payload, frame_bytes_max)
    except DecodeError as error:
        raise PeerError("sync.bad_response", f"a sync response is not canonical ({error.code})") from None
    if not isinstance(value, dict) or set(value) != {"blocks"} or not isinstance(value["blocks"], list):
        raise PeerError("sync.bad_response", "a sync response is {blocks: [[block, certificate], ...]}")
    if len(value["blocks"]) > count_max:
        raise PeerError("sync.bad_response", f"a sync response holds at most {count_max} blocks")
    pairs = value["blocks"]
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, bytes) for x in p) for p in pairs):
        raise PeerError("sync.bad_response", "each synced block is [block bytes, certificate bytes]")
    return [(pair[0], pair[1]) for pair in pairs]


def verify_certified_block(block_bytes: bytes, certificate_bytes: bytes, validators: ValidatorSet,
                           chain_id: str, frame_bytes_max: int, verify: Verify = verify_signature) -> CertifiedBlock:
    """Raise PeerError("sync.bad_block") unless the block is certified for this
    chain. The block is decoded within the frame it came in, as a proposal is:
    whether its transactions fit the chain's ``block_bytes_max`` (which
    ``params.update`` can change) is the executor's check when it commits."""
    try:
        block = decode_block(block_bytes, frame_bytes_max)
        certificate = decode_certificate(certificate_bytes, len(validators))
        header = block.header
        if header.chain_id != chain_id:
            raise PeerError("sync.bad_block", f"a synced block is for chain {header.chain_id!r}")
        if header.validators_hash != validators.hash():
            raise PeerError("sync.bad_block", "a synced block names another validator set")
        verify_certificate(certificate, validators, chain_id, header.height, block.hash(), verify=verify)
    except (BlockError, CertificateError) as error:
        raise PeerError("sync.bad_block", f"a synced block failed verification ({error.code}): {error.message}") from None
    return CertifiedBlock(block, certificate)


@dataclass(slots=True)
class _Request:
    peer: bytes
    from_height: int
    count: int
    sent_ms: float


@dataclass(slots=True)
class BlockSyncer:
    """Plans requests and orders verified blocks; holds no sockets or clocks.

    The target is what the node can prove: the highest height for which it
    holds a verified certificate (from consensus, or a block it synced). The
    window above its height, up to that target, is split among idle peers. A
    height a peer merely claims is evidence of nothing: it only ranks peers,
    and above the proven target the syncer sends one request at a time (a
    probe) to the best claimant; the blocks it brings back, once verified,
    raise the target.

    Peers are ranked by fewest strikes, then validators before observers,
    then key: a peer earns a strike each time a request to it times out or
    its answer lacks heights it claimed to hold, so a silent or lying peer
    is asked last and its range goes to another at once. An answer that stops
    short also lowers the peer's claim to what it delivered."""

    batch_blocks: int
    window_blocks: int
    request_timeout_ms: int
    validators: frozenset[bytes] = frozenset()
    strikes: dict[bytes, int] = field(default_factory=dict)
    certified_height: int = 0
    _in_flight: dict[bytes, _Request] = field(default_factory=dict)
    _buffer: dict[int, CertifiedBlock] = field(default_factory=dict)
    _claims: dict[bytes, int] = field(default_factory=dict, init=False)   # peer -> the height it claims
    _best_claim: int = field(default=0, init=False)   # max of _claims: asked on every status message, so kept

    @property
    def peer_heights(self) -> Mapping[bytes, int]:
        """Each peer's claimed height (read-only: claims change through the methods below)."""
        return MappingProxyType(self._claims)

    def on_peer_height(self, peer: bytes, height: int) -> None:
        """A height the peer claims to hold: it ranks the peer, proves nothing."""
        self._set_claim(peer, max(height, self._claims.get(peer, 0)))

    def _set_claim(self, peer: bytes, height: int) -> None:
        lowered = self._claims.get(peer, 0) > height
        self._claims[peer] = height
        if lowered:
            self._best_claim = max(self._claims.values(), default=0)
        else:
            self._best_claim = max(self._best_claim, height)

    def on_certified_height(self, height: int) -> None:
        """A verified certificate shows the chain reached ``height``."""
        self.certified_height = max(self.certified_height, height)

    def on_peer_gone(self, peer: bytes) -> None:
        """A validator's strikes outlive its connection, so it cannot shed
        them by reconnecting; any other peer's go (observers are many and
        need no key of the chain: keeping theirs would grow without bound)."""
        self._claims.pop(peer, None)
        self._best_claim = max(self._claims.values(), default=0)
        self._in_flight.pop(peer, None)
        if peer not in self.validators:
            self.strikes.pop(peer, None)

    def best_height(self) -> int:
        return self._best_claim

    def awaits(self, peer: bytes) -> bool:
        """Whether a request to ``peer`` is out: an answer nobody asked for
        (a late one, or one pushed at us) is dropped before it is decoded."""
        return peer in self._in_flight

    def has_work(self, our_height: int) -> bool:
        """Whether a tick may send a request: heights to fetch or requests out."""
        return bool(self._in_flight) or max(self.best_height(), self.certified_height) > our_height

    def next_requests(self, our_height: int, now_ms: float) -> list[tuple[bytes, int, int]]:
        """(peer, from_height, count) to send now: each missing range of the
        proven window asked of one idle peer, and above it at most one probe."""
        for peer, request in list(self._in_flight.items()):
            if now_ms - request.sent_ms > self.request_timeout_ms:
                del self._in_flight[peer]
                self.strikes[peer] = self.strikes.get(peer, 0) + 1
        self._buffer = {h: b for h, b in self._buffer.items() if h > our_height}
        requests: list[tuple[bytes, int, int]] = []
        for from_height in self._missing_ranges(our_height):
            peer = self._idle_peer_with(from_height)
            if peer is None:
                continue
            proven = from_height <= self.certified_height
            top = min(self.certified_height, from_height + self.batch_blocks - 1) if proven else self._claims[peer]
            count = min(self.batch_blocks, top - from_height + 1)
            self._in_flight[peer] = _Request(peer, from_height, count, now_ms)
            requests.append((peer, from_height, count))
        return requests

    def _missing_ranges(self, our_height: int) -> list[int]:
        """Starts of the ranges to ask for: batches of the proven window, then
        the first height above it when a peer claims it and no probe is out."""
        window_top = our_height + self.window_blocks
        covered = set(self._buffer)
        for request in self._in_flight.values():
            covered.update(range(request.from_height, request.from_height + request.count))
        starts, height = [], our_height + 1
        while height <= min(window_top, self.certified_height):
            if height in covered:
                height += 1
                continue
            starts.append(height)
            height += self.batch_blocks
        probe = max(our_height, self.certified_height) + 1
        probing = any(request.from_height > self.certified_height for request in self._in_flight.values())
        if probe <= window_top and self.best_height() >= probe and not probing and probe not in covered:
            starts.append(probe)
        return starts

    def _idle_peer_with(self, height: int) -> bytes | None:
        """The best-ranked idle peer for ``height``: any peer for a proven
        height (claimants first among equals), a claimant for a probe."""
        idle = [peer for peer in self._claims if peer not in self._in_flight]
        if height > self.certified_height:
            idle = [peer for peer in idle if self._claims[peer] >= height]
        return min(idle, key=lambda peer: self._rank(peer, height), default=None)

    def _rank(self, peer: bytes, height: int) -> tuple[int, int, int, bytes]:
        return (self.strikes.get(peer, 0), 0 if peer in self.validators else 1,
                0 if self._claims[peer] >= height else 1, peer)

    def on_response(self, peer: bytes, blocks: list[CertifiedBlock]) -> bool:
        """Keep the verified blocks that run on from the height this peer was
        asked for (an honest answer is such a run: as many as it holds and as
        fit one frame). True when the answer brought a block (so asking on at
        once pays); an answer nobody asked for, or one that does not start
        where it was asked, waits for the next tick, and the peer is struck
        if it claimed the height (else it could be asked the same range for
        ever while it serves only what lies above it)."""
        request = self._in_flight.pop(peer, None)
        if request is None:
            return False
        delivered = request.from_height - 1
        for item in blocks[:request.count]:
            if item.height != delivered + 1:
                break
            self._buffer[item.height] = item
            delivered = item.height
        self.on_certified_height(delivered)             # each kept block came with its verified certificate
        claimed = self._claims.get(peer, 0)
        if delivered < request.from_height:
            if claimed >= request.from_height:            # it claimed heights it did not serve
                self._set_claim(peer, delivered)
                self.strikes[peer] = self.strikes.get(peer, 0) + 1
            return False
        # A run shorter than asked is what fits one frame: the rest is asked next.
        self._set_claim(peer, max(claimed, delivered))
        self.strikes.pop(peer, None)
        return True

    def on_peer_failed(self, peer: bytes) -> None:
        """The peer served a bad block: forget it; its range is re-asked."""
        self.on_peer_gone(peer)

    def take_ready(self, our_height: int) -> list[CertifiedBlock]:
        """Buffered blocks that extend ``our_height`` without a gap, in order."""
        ready, height = [], our_height + 1
        while height in self._buffer:
            ready.append(self._buffer.pop(height))
            height += 1
        return ready
