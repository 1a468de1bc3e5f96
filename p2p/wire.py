"""What travels inside an encrypted frame: ``pack([kind, payload])``.

The network layer relays payloads without reading them; the node decodes
each kind. Kinds are short text so a capture stays readable.
"""
from __future__ import annotations

from chain.encoding import pack, unpack
from chain.errors import DecodeError
from p2p.errors import PeerError

KIND_TXS = "txs"  # signed transactions' bytes, gossiped in batches (encode_tx_batch)
KIND_CONSENSUS = "consensus"  # an encoded consensus message, sent by its signer to every validator
KIND_SYNC_REQUEST = "sync_request"  # ask a peer for committed blocks
KIND_SYNC_RESPONSE = "sync_response"  # committed blocks with their certificates
KIND_STATUS = "status"  # a peer's committed height, sent on connect and on commit

KINDS = (KIND_TXS, KIND_CONSENSUS, KIND_SYNC_REQUEST, KIND_SYNC_RESPONSE, KIND_STATUS)
# Kinds relayed hop by hop: a seen cache drops a copy of bytes already handled
# (each transaction in a batch is also deduplicated by the mempool).
# Consensus messages are not relayed, and a replica's resend of one must
# reach a peer that dropped the first copy (buffered past its cap, or
# received before it could use it): they are never dropped as seen.
GOSSIP_KINDS = (KIND_TXS,)


def encode_message(kind: str, payload: bytes) -> bytes:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    return pack([kind, payload])


def decode_message(plaintext: bytes, frame_bytes_max: int) -> tuple[str, bytes]:
    try:
        items = unpack(plaintext, frame_bytes_max)
    except DecodeError as error:
        raise PeerError("p2p.bad_message", f"a message is not canonical ({error.code})") from None
    if not isinstance(items, list) or len(items) != 2 or items[0] not in KINDS or not isinstance(items[1], bytes):
        raise PeerError("p2p.bad_message", f"a message is [kind, payload bytes] with kind one of {', '.join(KINDS)}")
    return items[0], items[1]


def encode_tx_batch(raws: list[bytes]) -> bytes:
    """The payload of a ``txs`` message: one or more signed transactions."""
    return pack(raws)


def decode_tx_batch(payload: bytes) -> list[bytes]:
    try:
        raws = unpack(payload, len(payload))
    except DecodeError as error:
        raise PeerError("p2p.bad_message", f"a txs message is not canonical ({error.code})") from None
    if not isinstance(raws, list) or not raws or not all(isinstance(raw, bytes) for raw in raws):
        raise PeerError("p2p.bad_message", "a txs message is a non-empty list of transactions' bytes")
    return raws
