"""Signed transactions (docs/protocol.md section 4).

Wire form: the MessagePack array ``[1, chain_id, sender, nonce, kind, body,
signature]``. The signature covers ``b"shopchain/tx/v1\\x00" + pack([1,
chain_id, sender, nonce, kind, body])``; since that array differs from the
signed one only in its length byte and its last element, the signing bytes
are sliced from the transaction itself: ``domain + b"\\x96" + raw[1:-66]``.
The id is the lowercase hex SHA-256 of the whole signed bytes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from chain.constants import MAX_UINT64, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, TX_VERSION
from chain.encoding import pack, unpack
from chain.errors import DecodeError, TransactionError
from chain.keys import KeyPair, Verify, verify_signature
from chain.signing import domain_tag

TX_DOMAIN = domain_tag("tx")
# fixarray headers of the unsigned (6 items) and signed (7 items) arrays, and
# the bin8 header of a 64-byte signature: the signed array ends in these 66 bytes.
_UNSIGNED_HEADER = b"\x96"
_SIGNED_HEADER = b"\x97"
_SIGNATURE_HEADER = b"\xc4\x40"
_SIGNATURE_TAIL_BYTES = len(_SIGNATURE_HEADER) + SIGNATURE_BYTES

# Transaction kinds are lowercase dotted names such as "order.create".
KIND_PATTERN = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*){1,3}")
KIND_BYTES_MAX = 64
CHAIN_ID_BYTES_MAX = 64
# Default cap on a signed transaction; genesis parameters may set a lower one.
TX_BYTES_MAX_DEFAULT = 64 * 1024


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A structurally valid transaction; ``verify_transaction`` checks its signature."""

    raw: bytes
    chain_id: str
    sender: bytes
    nonce: int
    kind: str
    body: dict[str, Any]
    signature: bytes
    id: str

    @property
    def sender_address(self) -> str:
        return self.sender.hex()

    @property
    def signing_bytes(self) -> bytes:
        return TX_DOMAIN + _UNSIGNED_HEADER + self.raw[1:-_SIGNATURE_TAIL_BYTES]


def transaction_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def build_transaction(key: KeyPair, chain_id: str, nonce: int, kind: str, body: dict[str, Any]) -> SignedTransaction:
    """Sign a new transaction; raises TransactionError for fields no node accepts."""
    unsigned = pack([TX_VERSION, chain_id, key.public_key, nonce, kind, body])
    signature = key.sign(TX_DOMAIN + unsigned)
    raw = _SIGNED_HEADER + unsigned[1:] + _SIGNATURE_HEADER + signature
    return parse_transaction(raw)


def parse_transaction(raw: bytes, max_bytes: int = TX_BYTES_MAX_DEFAULT) -> SignedTransaction:
    """Decode and check the envelope's structure, not its signature."""
    if len(raw) > max_bytes:
        raise TransactionError("tx.too_large", f"transaction of {len(raw)} bytes exceeds the cap of {max_bytes}; shorten its body")
    try:
        items = unpack(raw, max_bytes)
    except DecodeError as error:
        raise TransactionError("tx.malformed", f"transaction bytes are not canonical ({error.code}): {error.message}") from None
    if not isinstance(items, list) or len(items) != 7:
        raise TransactionError("tx.malformed", "a transaction is an array of 7 items [1, chain_id, sender, nonce, kind, body, signature]")
    version, chain_id, sender, nonce, kind, body, signature = items
    if type(version) is not int or version != TX_VERSION:
        raise TransactionError("tx.bad_version", f"transaction version must be {TX_VERSION}; upgrade the client")
    _check_envelope_fields(chain_id, sender, nonce, kind, body, signature)
    return SignedTransaction(raw, chain_id, sender, nonce, kind, body, signature, transaction_id(raw))


def _check_envelope_fields(chain_id: Any, sender: Any, nonce: Any, kind: Any, body: Any, signature: Any) -> None:
    if not isinstance(chain_id, str) or not 0 < len(chain_id.encode()) <= CHAIN_ID_BYTES_MAX:
        raise TransactionError("tx.malformed", f"chain_id must be a str of 1..{CHAIN_ID_BYTES_MAX} bytes")
    if not isinstance(sender, bytes) or len(sender) != PUBLIC_KEY_BYTES:
        raise TransactionError("tx.malformed", f"sender must be a {PUBLIC_KEY_BYTES}-byte public key")
    if type(nonce) is not int or not 1 <= nonce <= MAX_UINT64:
        raise TransactionError("tx.malformed", "nonce must be an integer from 1 (the sender's first transaction)")
    if not isinstance(kind, str) or len(kind) > KIND_BYTES_MAX or not KIND_PATTERN.fullmatch(kind):
        raise TransactionError("tx.malformed", "kind must be a dotted lowercase name such as \"order.create\"")
    if not isinstance(body, dict):
        raise TransactionError("tx.malformed", "body must be a map")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise TransactionError("tx.malformed", f"signature must be {SIGNATURE_BYTES} bytes")


def verify_transaction(tx: SignedTransaction, chain_id: str | None = None, verify: Verify = verify_signature) -> None:
    """Raise TransactionError unless ``tx`` is for ``chain_id`` and its signature verifies."""
    if chain_id is not None and tx.chain_id != chain_id:
        raise TransactionError("tx.wrong_chain", f"transaction is for chain {tx.chain_id!r}, this is {chain_id!r}; sign it for this chain")
    if not verify(tx.sender, tx.signing_bytes, tx.signature):
        raise TransactionError("tx.bad_signature", "signature does not verify for sender; sign with the sender's key")


def decode_transaction(raw: bytes, chain_id: str | None = None, max_bytes: int = TX_BYTES_MAX_DEFAULT,
                       verify: Verify = verify_signature) -> SignedTransaction:
    """Parse, check the chain id and verify the signature: the whole envelope check."""
    tx = parse_transaction(raw, max_bytes)
    verify_transaction(tx, chain_id, verify=verify)
    return tx


class TransactionDecoder:
    """``decode_transaction`` for one chain, with the transactions it accepted
    remembered by their bytes (bounded; cleared when full).

    Accepting is a pure function of the bytes, the chain id and the signature
    check, so a remembered transaction is the answer under any size cap its
    bytes fit. Refusals are not remembered: they cost nothing to repeat but
    memory. Simulated nodes in one process share one decoder, as they share
    one signature verifier, so a transaction is parsed once in the process; a
    node remembers none (capacity 0): its mempool holds what it parsed.
    """

    def __init__(self, chain_id: str, verify: Verify = verify_signature, capacity: int = 0) -> None:
        self.chain_id = chain_id
        self._verify = verify
        self._capacity = capacity
        self._accepted: dict[bytes, SignedTransaction] = {}

    def __call__(self, raw: bytes, tx_bytes_max: int) -> SignedTransaction:
        tx = self._accepted.get(raw)
        if tx is not None and len(raw) <= tx_bytes_max:
            return tx
        tx = decode_transaction(raw, self.chain_id, tx_bytes_max, verify=self._verify)
        if self._capacity:
            if len(self._accepted) >= self._capacity:
                self._accepted.clear()
            self._accepted[raw] = tx
        return tx
