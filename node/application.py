"""The application the consensus core drives: build, validate, commit blocks.

It joins the commerce executor and the block store, and serves both the
real node (LevelDB) and the simulator (memory): the same checks, the same
execution. ``validate_block`` is "execute before vote": every check of
docs/protocol.md section 5 that is not consensus's own (proposer and time are), then
the block runs on an overlay of the committed state and every root must
match. The execution is kept until the block commits or another replaces it,
so a validated block is not executed twice; a block met only in sync is
executed at commit, and a root that differs then halts the node loudly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from chain.block import Block, Header
from chain.constants import EVIDENCE_MAX_AGE, EVIDENCE_PER_BLOCK_MAX, HEADER_VERSION
from chain.errors import CodedError
from chain.genesis import Genesis
from chain.merkle import merkle_root
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, TreeUpdate, key_path, state_changes
from chain.keys import Verify, verify_signature
from chain.transaction import SignedTransaction, TransactionDecoder, transaction_id
from chain.votes import CommitCertificate
from commerce.errors import BlockInvalid
from commerce.executor import BlockExecution, execute_block
from commerce.genesis_state import compute_genesis_tree, compute_genesis_write_set
from commerce.records import get_param
from commerce.search import search_terms
from consensus.messages import decode_evidence, verify_evidence
from storage.blockstore import BlockStore


class StateDivergence(RuntimeError):
    """A certified block whose execution here gives other roots: this node's
    state differs from the network's. It must stop, not carry on."""


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    block: Block
    txs: tuple[SignedTransaction, ...]
    execution: BlockExecution


@dataclass(slots=True)
class _Prepared:
    block: Block
    txs: tuple[SignedTransaction, ...]
    execution: BlockExecution
    tree: TreeUpdate                 # the state tree's version at this height: state_root, computed once


# What the caller already holds parsed and verified, by transaction id (a
# mempool's pending transactions), so a block's transactions are not decoded
# and checked again.
KnownTransactions = Callable[[str], "SignedTransaction | None"]


def _none_known(tx_id: str) -> SignedTransaction | None:
    return None


@dataclass
class ChainApplication:
    store: BlockStore
    genesis: Genesis
    verifier: Verify = verify_signature   # checks transaction and evidence signatures
    decoder: TransactionDecoder | None = None   # None: one of this chain's over ``verifier``
    _prepared: dict[bytes, _Prepared] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.decoder is None:
            self.decoder = TransactionDecoder(self.genesis.chain_id, self.verifier)
        if self.store.genesis_hash() is None:
            self.store.commit_genesis(self.genesis.hash, compute_genesis_write_set(self.genesis),
                                      compute_genesis_tree(self.genesis))
        elif self.store.genesis_hash() != self.genesis.hash:
            raise StateDivergence("the database was made from another genesis; point the node at its own home")

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def param(self, name: str) -> int:
        return get_param(self.store.state(), name)

    # -- the consensus application protocol -----------------------------------------

    def build_block(self, height: int, prev_hash: bytes, time_ms: int, proposer: bytes, evidence: tuple[bytes, ...],
                    txs: Sequence[SignedTransaction]) -> Block:
        """A block of ``txs``, executed, with its roots. A mempool offers each
        sender's nonces in order from the committed one, so the execution
        cannot find the block invalid."""
        candidates = list(txs)
        execution, tree = self._execute(height, time_ms, candidates)
        header = self._header(height, prev_hash, time_ms, proposer, [tx.raw for tx in candidates], evidence, execution,
                              tree)
        block = Block(header, tuple(tx.raw for tx in candidates), tuple(evidence))
        self._prepared[block.hash()] = _Prepared(block, tuple(candidates), execution, tree)
        return block

    def validate_block(self, block: Block, known: KnownTransactions = _none_known) -> bool:
        try:
            self._prepared[block.hash()] = self._check_and_execute(block, known)
        except CodedError:
            return False
        return True

    def persist_block(self, block: Block, certificate: CommitCertificate,
                      known: KnownTransactions = _none_known) -> CommittedBlock:
        """Write the block and what it produced atomically (executing it first
        if it was never validated here)."""
        prepared = self._prepared.pop(block.hash(), None)
        if prepared is None:
            try:
                prepared = self._check_and_execute(block, known)
            except CodedError as error:
                raise StateDivergence(f"certified block {block.height} fails here ({error.code}): {error.message}") from None
        results = prepared.execution.results
        terms = [term for index, (tx, result) in enumerate(zip(prepared.txs, results))
                 for term in search_terms(tx, result, block.height, index)]
        self.store.commit(block, certificate, results, prepared.execution.write_set, prepared.tree, terms)
        self._prepared.clear()
        return CommittedBlock(block, prepared.txs, prepared.execution)

    # -- checks -------------------------------------------------------------------

    def _check_and_execute(self, block: Block, known: KnownTransactions) -> _Prepared:
        header = block.header
        self._check_header(header)
        self._check_evidence(block.evidence, header.height)
        tx_bytes_max = self.param("tx_bytes_max")
        txs = [self._transaction(raw, tx_bytes_max, known) for raw in block.txs]
        execution, tree = self._execute(header.height, header.time_ms, txs)
        if execution.results_root != header.results_root:
            raise BlockInvalid("block.bad_results_root", "executing the block gives another results_root")
        if tree.root_hash != header.state_root:
            raise BlockInvalid("block.bad_state_root", "executing the block gives another state_root")
        return _Prepared(block, tuple(txs), execution, tree)

    def _transaction(self, raw: bytes, tx_bytes_max: int, known: KnownTransactions) -> SignedTransaction:
        """A block's transaction: the caller's parsed copy when it holds the
        same bytes (the id is their hash, and it was checked on admission),
        else decoded and verified here."""
        pending = known(transaction_id(raw))
        if pending is not None and len(raw) <= tx_bytes_max:
            return pending
        return self.decoder(raw, tx_bytes_max)

    def _check_header(self, header: Header) -> None:
        validators_hash = self.genesis.validators.hash()
        if header.chain_id != self.chain_id:
            raise BlockInvalid("block.wrong_chain", f"block is for chain {header.chain_id!r}")
        if header.height != self.store.last_height() + 1 or header.prev_hash != self.store.last_block_hash():
            raise BlockInvalid("block.not_next", f"block {header.height} does not extend the committed chain")
        if header.validators_hash != validators_hash or header.next_validators_hash != validators_hash:
            raise BlockInvalid("block.bad_validators", "block names another validator set")

    def _check_evidence(self, records: Sequence[bytes], height: int) -> None:
        # Verify the block's evidence is within the cap, each record once, before any signature is checked
        if len(records) > EVIDENCE_PER_BLOCK_MAX:
            raise BlockInvalid("block.too_much_evidence", f"{len(records)} evidence records exceed the cap of "
                                                          f"{EVIDENCE_PER_BLOCK_MAX} a block")
        if len(set(records)) != len(records):
            raise BlockInvalid("block.duplicate_evidence", "an evidence record appears twice in the block")
        for record in records:
            verify_evidence(decode_evidence(record), self.genesis.validators, self.chain_id, height - 1, EVIDENCE_MAX_AGE,
                            verify=self.verifier)

    def _execute(self, height: int, time_ms: int, txs: Sequence[SignedTransaction]) -> tuple[BlockExecution, TreeUpdate]:
        """The block's execution and the state tree's version ``height`` after it."""
        state = self.store.state()
        execution = execute_block(state, time_ms, txs)
        # The values before the block (mostly just read, so cached) spare the tree reading the old leaves.
        previous = {key_path(key): state.get(key) for key in execution.write_set}
        tree = StateTree(self.store, STATE_TREE_RADIX_BITS).update(
            self.store.tree_root(height - 1), state_changes(execution.write_set), height, previous)
        return execution, tree

    def _header(self, height: int, prev_hash: bytes, time_ms: int, proposer: bytes, txs: list[bytes],
                evidence: tuple[bytes, ...], execution: BlockExecution, tree: TreeUpdate) -> Header:
        validators_hash = self.genesis.validators.hash()
        return Header(
            version=HEADER_VERSION, chain_id=self.chain_id, height=height, prev_hash=prev_hash, time_ms=time_ms,
            proposer=proposer, tx_count=len(txs), tx_root=merkle_root(txs), results_root=execution.results_root,
            evidence_root=merkle_root(list(evidence)), state_root=tree.root_hash,
            validators_hash=validators_hash, next_validators_hash=validators_hash,
        )
