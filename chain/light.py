"""The light client: what a node answers, checked against the validators'
signatures alone, from a trusted genesis (a file or its hash).

It trusts nothing it did not prove. A header counts when a quorum of the
genesis validators signed COMMIT for its hash (a header naming another
validator set, current or next, fails closed: this chain's set never
changes); a state value counts when its proof leads to that header's
``state_root``; and only the keys asked for are taken, so a node cannot
answer a question that was not put. Every failure is ``verify.failed`` with
what did not match. Pure: the caller fetches (node/client.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from chain.block import Header, decode_header
from chain.encoding import unpack
from chain.errors import CodedError
from chain.hashing import sha256
from chain.merkle import verify_inclusion
from chain.genesis import Genesis
from chain.keys import Verify, verify_signature
from chain.state_tree import STATE_TREE_RADIX_BITS, StateProof, key_path, verify_proof
from chain.transaction import SignedTransaction, decode_transaction
from chain.validators import ValidatorSet
from chain.votes import decode_certificate, verify_certificate

STATE_PROOF_KEYS_MAX = 64   # keys one state_proof call proves (docs/protocol.md)


class VerifyFailed(CodedError):
    def __init__(self, what: str) -> None:
        super().__init__("verify.failed", what)


@dataclass(frozen=True, slots=True)
class Trust:
    """What the light client starts from: one chain's genesis."""

    chain_id: str
    validators: ValidatorSet
    genesis_hash: bytes

    @classmethod
    def from_genesis(cls, genesis: Genesis, expected_hash: bytes | None = None) -> "Trust":
        """``expected_hash``: the genesis hash the user trusts, when the file came from elsewhere."""
        if expected_hash is not None and genesis.hash != expected_hash:
            raise VerifyFailed(f"the genesis file hashes to {genesis.hash.hex()}, not the trusted {expected_hash.hex()}")
        return cls(genesis.chain_id, genesis.validators, genesis.hash)


@dataclass(frozen=True, slots=True)
class Verified:
    """A header the validators signed."""

    header: Header
    signers: int
    validators: int

    @property
    def height(self) -> int:
        return self.header.height

    def line(self, time_text: str) -> str:
        return (f"verified at height {self.height} (block time {time_text}): "
                f"signed by {self.signers} of {self.validators} validators")


@contextmanager
def _refusing(proof: str, answer: str) -> Iterator[None]:
    """Any failure inside, whatever a lying node sent, as ``verify.failed``."""
    try:
        yield
    except VerifyFailed:
        raise
    except CodedError as error:
        raise VerifyFailed(f"{proof} does not hold ({error.code}: {error.message})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise VerifyFailed(f"the answer is not {answer} ({type(error).__name__}: {error})") from None


def verify_header(trust: Trust, header_bytes: bytes, certificate_bytes: bytes,
                  verify: Verify = verify_signature) -> Verified:
    """The header, once a quorum of the trusted validators signed it."""
    try:
        header = decode_header(header_bytes)
        certificate = decode_certificate(certificate_bytes, len(trust.validators))
    except CodedError as error:
        raise VerifyFailed(f"the header or certificate does not decode ({error.code})") from None
    if header.chain_id != trust.chain_id:
        raise VerifyFailed(f"the header is of chain {header.chain_id!r}, not {trust.chain_id!r}")
    expected = trust.validators.hash()
    if header.validators_hash != expected or header.next_validators_hash != expected:
        raise VerifyFailed("the header names another validator set than the genesis one")
    try:
        verify_certificate(certificate, trust.validators, trust.chain_id, header.height, header.hash(), verify=verify)
    except CodedError as error:
        raise VerifyFailed(f"the commit certificate does not sign this header ({error.code}: {error.message})") from None
    return Verified(header, len(certificate.signatures), len(trust.validators))


def verify_state(trust: Trust, answer: Mapping[str, Any], keys: Sequence[bytes], verify: Verify = verify_signature,
                 height: int | None = None) -> tuple[dict[bytes, bytes | None], Verified]:
    """The values of ``keys`` (None: absent) from a ``state_proof`` answer,
    each proven against the signed header of the answer's height, which must
    be ``height`` when one was asked for: a node may not answer another."""
    with _refusing("a state proof", "a state_proof answer"):
        verified = verify_header(trust, bytes.fromhex(answer["header_bytes"]), bytes.fromhex(answer["certificate_bytes"]),
                                 verify)
        if answer["height"] != verified.height:
            raise VerifyFailed(f"the answer says height {answer['height']}, its header {verified.height}")
        if height is not None and verified.height != height:
            raise VerifyFailed(f"the node answered height {verified.height}, not height {height} as asked")
        items = {bytes.fromhex(item["key"]): item for item in answer["proofs"]}
        if len(items) != len(answer["proofs"]) or set(items) != set(keys):
            raise VerifyFailed("the answer proves other keys than the ones asked for")
        values: dict[bytes, bytes | None] = {}
        for key in keys:
            item = items[key]
            value = None if item["value"] is None else bytes.fromhex(item["value"])
            proof = StateProof.decode(bytes.fromhex(item["proof"]), STATE_TREE_RADIX_BITS)
            verify_proof(verified.header.state_root, key_path(key), value, proof, STATE_TREE_RADIX_BITS)
            values[key] = value
    return values, verified


@dataclass(frozen=True, slots=True)
class ProvenTransaction:
    """A committed transaction and what its result's leaf proves: whether it
    succeeded, its code and its events (the result's message is not in the
    leaf, so it is not proven and not given)."""

    tx: SignedTransaction
    height: int
    index: int
    ok: bool
    code: str
    events: tuple[dict[str, Any], ...]


def verify_transaction(trust: Trust, answer: Mapping[str, Any], tx_id: str,
                       verify: Verify = verify_signature) -> tuple[ProvenTransaction, Verified]:
    """A ``proof_tx`` answer for ``tx_id``: the transaction's bytes in the
    signed header's ``tx_root`` and its result's leaf in ``results_root``,
    at one index of the header's own ``tx_count``."""
    with _refusing("the transaction's proof", "a proof_tx answer"):
        verified = verify_header(trust, bytes.fromhex(answer["header_bytes"]), bytes.fromhex(answer["certificate_bytes"]),
                                 verify)
        header = verified.header
        raw = bytes.fromhex(answer["tx"])
        if sha256(raw).hex() != tx_id:
            raise VerifyFailed(f"the answer's transaction is not {tx_id}")
        index = answer["tx_proof"]["index"]
        if type(index) is not int or answer["result_proof"]["index"] != index:
            raise VerifyFailed("the transaction and its result are at different places")
        verify_inclusion(raw, index, header.tx_count, [bytes.fromhex(x) for x in answer["tx_proof"]["path"]],
                         header.tx_root)
        leaf = bytes.fromhex(answer["result_leaf"])
        verify_inclusion(leaf, index, header.tx_count, [bytes.fromhex(x) for x in answer["result_proof"]["path"]],
                         header.results_root)
        ok, code, events = unpack(leaf)
        tx = decode_transaction(raw, trust.chain_id, max_bytes=len(raw))
    return ProvenTransaction(tx, header.height, index, ok, code, tuple(events)), verified

