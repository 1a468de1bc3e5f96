"""The mempool: verified transactions waiting for a block.

Caps by count, by bytes and per sender, so no client can make it grow
without bound (tendermint #3079). A sender's transactions are kept by nonce:
a nonce at or below the sender's last committed one is refused, and so is
one more than ``nonce_gap_max`` ahead of it; only a contiguous run from the
next nonce is offered to a block. What waits behind a missing nonce
("gapped": no block can take it until the nonce comes) has caps of its own,
``gapped_txs_max`` and ``gapped_bytes_max``, below the mempool's: keys that
leave their next nonce out (fresh keys whose own registration is left out
among them) can fill those, never the room of transactions a block can
take. Envelopes are checked with the node's
``decode`` (a ``chain.transaction.TransactionDecoder`` over the node's
``chain.keys.SignatureVerifier``, which remembers its answers), so block
validation does not check signatures again.

Before a transaction is kept, the node's ``admission`` (node/admission.py)
refuses one no block could use. The mempool holds no clock and does no I/O:
the node calls ``add`` for each submitted or gossiped transaction and
``on_commit`` after each block.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Iterable

from chain.errors import TransactionError
from chain.transaction import SignedTransaction, TransactionDecoder, transaction_id
from node.admission import RegistrationPending, registers_itself
from node.errors import RequestRejected

NonceLookup = Callable[[bytes], int]
# Refuses (RequestRejected) what no block could use; told whether a sender's own registration is pending.
Admission = Callable[[SignedTransaction, RegistrationPending], None]


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    txs_max: int = 20_000
    bytes_max: int = 64 * 1024 * 1024
    per_sender_max: int = 256
    nonce_gap_max: int = 256
    gapped_txs_max: int = 2_000                # waiting behind a missing nonce of their sender
    gapped_bytes_max: int = 8 * 1024 * 1024
    verified_cache_max: int = 200_000   # answers the node's SignatureVerifier remembers (node/runtime.py)


@dataclass(slots=True)
class _Pending:
    tx: SignedTransaction
    arrival: int


@dataclass(slots=True)
class _SenderQueue:
    by_nonce: dict[int, _Pending] = field(default_factory=dict)


class Mempool:
    def __init__(self, limits: MempoolLimits, committed_nonce: NonceLookup, tx_bytes_max: Callable[[], int],
                 decode: TransactionDecoder, admission: Admission = lambda tx, registration_pending: None) -> None:
        """``tx_bytes_max`` reads the chain's parameter as committed (``params.update`` can move it)."""
        self._limits = limits
        self._committed_nonce = committed_nonce
        self._tx_bytes_max = tx_bytes_max
        self._tx_bytes_cap = tx_bytes_max()     # as of the last commit
        self._by_id: dict[str, SignedTransaction] = {}
        self._senders: dict[bytes, _SenderQueue] = {}
        self._bytes = 0
        self._gapped_by_sender: dict[bytes, tuple[int, int]] = {}   # sender -> (transactions, bytes) behind its gap
        self._gapped = 0
        self._gapped_bytes = 0
        self._arrivals = 0
        self._decode = decode
        self._admission = admission

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._by_id

    def pending(self, tx_id: str) -> SignedTransaction | None:
        return self._by_id.get(tx_id)

    def add_raw(self, raw: bytes) -> SignedTransaction:
        """Check the envelope with the node's decoder, then ``add``. A full
        mempool refuses before the decoder: a flood past the caps costs no
        signature checks."""
        self._refuse_duplicate(transaction_id(raw))
        self._refuse_if_full(len(raw))
        try:
            tx = self._decode(raw, self._tx_bytes_cap)
        except TransactionError as error:
            raise RequestRejected(error.code, error.message) from None
        self.add(tx)
        return tx

    def add(self, tx: SignedTransaction) -> None:
        """Admit a transaction whose envelope has been verified."""
        self._refuse_duplicate(tx.id)
        last_used = self._committed_nonce(tx.sender)
        if tx.nonce <= last_used:
            raise RequestRejected("tx.bad_nonce", f"nonce {tx.nonce} is used (last used {last_used}); sign again with nonce {last_used + 1} or later")
        if tx.nonce > last_used + self._limits.nonce_gap_max:
            raise RequestRejected("tx.bad_nonce", f"nonce {tx.nonce} is more than {self._limits.nonce_gap_max} ahead of the next nonce {last_used + 1}")
        self._admission(tx, self._registration_pending)
        queue = self._senders.get(tx.sender)
        if queue is not None and tx.nonce in queue.by_nonce:
            raise RequestRejected("tx.nonce_pending", f"another transaction with nonce {tx.nonce} is pending for this sender")
        if queue is not None and len(queue.by_nonce) >= self._limits.per_sender_max:
            raise RequestRejected("mempool.sender_full", f"{self._limits.per_sender_max} transactions of this sender are pending; wait for some to commit")
        self._refuse_if_full(len(tx.raw))
        missing = _run_end(queue, last_used + 1)
        if tx.nonce > missing and (self._gapped >= self._limits.gapped_txs_max
                                   or self._gapped_bytes + len(tx.raw) > self._limits.gapped_bytes_max):
            raise RequestRejected("mempool.gapped_full",
                                  f"too many pending transactions wait behind a missing nonce; send nonce {missing} "
                                  "of this sender first, or retry once some commit")
        self._senders.setdefault(tx.sender, _SenderQueue()).by_nonce[tx.nonce] = _Pending(tx, self._arrivals)
        self._arrivals += 1
        self._by_id[tx.id] = tx
        self._bytes += len(tx.raw)
        self._recount_gapped(tx.sender, last_used + 1)

    def _recount_gapped(self, sender: bytes, next_nonce: int) -> None:
        """Count again what of ``sender``'s waits behind a missing nonce."""
        count, size = self._gapped_by_sender.pop(sender, (0, 0))
        self._gapped -= count
        self._gapped_bytes -= size
        queue = self._senders.get(sender)
        if queue is None:
            return
        end = _run_end(queue, next_nonce)
        behind = [pending.tx.raw for nonce, pending in queue.by_nonce.items() if nonce > end]
        if behind:
            count, size = len(behind), sum(map(len, behind))
            self._gapped_by_sender[sender] = (count, size)
            self._gapped += count
            self._gapped_bytes += size

    @property
    def gapped(self) -> tuple[int, int]:
        """Transactions and bytes waiting behind a missing nonce of their sender."""
        return self._gapped, self._gapped_bytes

    def _registration_pending(self, sender: bytes) -> bool:
        queue = self._senders.get(sender)
        return queue is not None and any(registers_itself(pending.tx) for pending in queue.by_nonce.values())

    def _refuse_if_full(self, tx_bytes: int) -> None:
        if len(self._by_id) >= self._limits.txs_max or self._bytes + tx_bytes > self._limits.bytes_max:
            raise RequestRejected("mempool.full", "the mempool is full; retry in a few seconds")

    def _refuse_duplicate(self, tx_id: str) -> None:
        if tx_id in self._by_id:
            raise RequestRejected("tx.duplicate", f"transaction {tx_id} is already pending; wait for it to commit")

    def reap(self, txs_max: int, bytes_max: int) -> list[SignedTransaction]:
        """Transactions for the next block: each sender's contiguous run from
        its next nonce, senders interleaved by arrival, within both caps."""
        heads: list[tuple[int, bytes, int]] = []
        for sender, queue in self._senders.items():
            next_nonce = self._committed_nonce(sender) + 1
            if next_nonce in queue.by_nonce:
                heads.append((queue.by_nonce[next_nonce].arrival, sender, next_nonce))
        heapq.heapify(heads)
        chosen: list[SignedTransaction] = []
        size = 0
        while heads and len(chosen) < txs_max:
            _, sender, nonce = heapq.heappop(heads)
            tx = self._senders[sender].by_nonce[nonce].tx
            if size + len(tx.raw) > bytes_max:
                continue
            chosen.append(tx)
            size += len(tx.raw)
            following = self._senders[sender].by_nonce.get(nonce + 1)
            if following is not None:
                heapq.heappush(heads, (following.arrival, sender, nonce + 1))
        return chosen

    def on_commit(self, committed: Iterable[SignedTransaction]) -> None:
        """After a block: drop every pending transaction of the block's senders
        whose nonce the new state has used, the committed ones and any that
        conflict with them (same sender and nonce, submitted to another node);
        and, if the block lowered ``tx_bytes_max``, every one above it, which
        no block can carry now (a primary would build an invalid block)."""
        touched = {tx.sender for tx in committed}
        for sender in touched:
            queue = self._senders.get(sender)
            if queue is None:
                continue
            last_used = self._committed_nonce(sender)
            for nonce in sorted(n for n in queue.by_nonce if n <= last_used):
                self._remove(queue.by_nonce[nonce].tx)
        cap, before = self._tx_bytes_max(), self._tx_bytes_cap
        self._tx_bytes_cap = cap
        if cap < before:
            for tx in [tx for tx in self._by_id.values() if len(tx.raw) > cap]:
                self._remove(tx)
                touched.add(tx.sender)
        for sender in touched:
            self._recount_gapped(sender, self._committed_nonce(sender) + 1)

    def _remove(self, tx: SignedTransaction) -> None:
        queue = self._senders[tx.sender]
        del queue.by_nonce[tx.nonce]
        if not queue.by_nonce:
            del self._senders[tx.sender]
        del self._by_id[tx.id]
        self._bytes -= len(tx.raw)


def _run_end(queue: _SenderQueue | None, next_nonce: int) -> int:
    """The first nonce from ``next_nonce`` on that ``queue`` lacks: below it, a
    block can take the sender's transactions in turn; above it, none."""
    nonce = next_nonce
    while queue is not None and nonce in queue.by_nonce:
        nonce += 1
    return nonce
