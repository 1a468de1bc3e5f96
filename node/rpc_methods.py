"""The node's JSON-RPC methods: the public contract of docs/protocol.md section 12.

``build_method_table`` fills a ``MethodTable`` with one ``Method`` per call a
client makes: submit a transaction (and wait for its commit if asked), read
transactions, blocks, the chain's status, and every commerce getter and list,
and fetch a Merkle proof of a transaction and of its result. The names,
params and result fields are fixed: clients in other languages are written
against them. Results are JSON-ready (bytes as lowercase hex, integers as
numbers) and carry at least the fields that section lists; each method's result
schema in ``rpc.discover`` names those fields as ``required``.

Every handler reads committed state only (``NodeView.store``) and hands
transactions to the node (``NodeView.submit``); it never waits on consensus
except ``tx_submit`` with ``wait: "commit"``, which waits on the node's
commit notification, bounded by ``commit_wait_s``.

Failures of the caller's making are coded: a malformed param is -32602 (the
standard check of ``node.jsonrpc`` plus the patterns declared here); an
unknown name is an application error with ``<area>.unknown``-style codes
(docs/errors.md, section "RPC methods"); a refusal of the mempool keeps its
``tx.*`` / ``mempool.*`` code.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator, Protocol, TypeVar

from chain.block import Header
from chain.errors import CodedError
from chain.genesis import Genesis
from chain.kv import KeyValueReader
from chain.light import STATE_PROOF_KEYS_MAX
from chain.merkle import inclusion_proof
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, key_path
from chain.transaction import SignedTransaction, parse_transaction, transaction_id
from chain.votes import CommitCertificate
from commerce import queries
from commerce.epcis import trace_document
from commerce.search import CREATED, SERIAL_PREFIX, TRACKING, created_at, split_serial
from commerce.executor import get_nonce
from commerce.orders import ORDER_STATES
from consensus.messages import decode_evidence
from node.errors import RequestRejected
from node.jsonrpc import APPLICATION_ERROR, INVALID_PARAMS, Method, MethodTable, Param, RpcError
from node.mempool import Mempool
from storage.blockstore import BlockStore, StoredTransaction

# The version of this method table in the OpenRPC document: a change of a
# name, a param or a result field bumps it (docs/protocol.md section 12).
RPC_API_VERSION = "1.0.0"
WAIT_MODES = ("none", "mempool", "commit")
DEFAULT_PAGE_SIZE = 50
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReadPools:
    """The threads a node's store reads run on, off its event loop: ``reads``
    for those of one object, block or proof, ``scans`` for the lists that
    pass every record of a kind, so a queue of scans never holds a getter.
    The node shuts them down before it closes the store."""

    reads: Executor
    scans: Executor

    @classmethod
    def start(cls, name: str) -> "ReadPools":
        return cls(ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{name}-reads"),
                   ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-scans"))

    def shutdown(self) -> None:
        """Wait for the reads in flight, then stop the threads."""
        self.reads.shutdown(wait=True)
        self.scans.shutdown(wait=True)

_HEX_ID = "^[0-9a-f]{64}$"
_HEX_BYTES = re.compile(r"(?:[0-9a-fA-F]{2})+")


class NodeView(Protocol):
    """What the running node offers the RPC methods."""

    chain_id: str
    genesis: Genesis
    # Committed state only: blocks, certificates, results, indexes, state.
    store: BlockStore
    mempool: Mempool

    def status(self) -> dict[str, Any]:
        """At least ``view`` (the consensus view now) and ``peers`` (hex keys of connected peers)."""

    def submit(self, raw: bytes) -> SignedTransaction:
        """Admit a transaction to the mempool and gossip it; raises RequestRejected."""

    async def wait_for_commit(self, tx_id: str, timeout_s: float) -> bool:
        """True once ``tx_id`` is in a committed block (at once if it already is);
        False when ``timeout_s`` passes first."""


class RpcCodedError(CodedError):
    """A coded failure that carries more than its code to the client: the
    answer's ``error.data`` is ``{"code": code, **data}``."""

    def __init__(self, code: str, message: str, **data: Any) -> None:
        super().__init__(code, message)
        self.data = data


def build_method_table(node: NodeView, batch_max: int, page_size_max: int, commit_wait_s: float = 30.0,
                       on_rejection: Callable[[str], None] = lambda code: None,
                       pools: ReadPools | None = None) -> MethodTable:
    """The node's whole JSON-RPC table; ``rpc.discover`` documents it.
    ``pools``: the threads store reads run on (None: the event loop's default)."""
    if page_size_max < 1:
        raise ValueError("page_size_max is at least 1")
    api = _Api(node, page_size_max, commit_wait_s, pools)
    table = MethodTable("Shopchain node", RPC_API_VERSION, batch_max, on_rejection)
    for name, summary, params, result, handler in api.methods():
        table.add(Method(name, summary, params, result, _checked(params, handler)))
    return table


# -- params and results ---------------------------------------------------------------

def _string(name: str, description: str, pattern: str | None = None, required: bool = True) -> Param:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return Param(name, schema, description, required)


def _param(name: str, schema: dict[str, Any], description: str, required: bool = True) -> Param:
    return Param(name, schema, description, required)


def _hex_id(name: str, description: str, required: bool = True) -> Param:
    return _param(name, {"type": "string", "pattern": _HEX_ID}, description, required)


def _paging(page_size_max: int) -> tuple[Param, ...]:
    return (
        _param("offset", {"type": "integer", "minimum": 0}, "items to skip (default 0)", required=False),
        _param("limit", {"type": "integer", "minimum": 1}, f"items per page (default {min(DEFAULT_PAGE_SIZE, page_size_max)}, "
               f"capped at {page_size_max}; the answer's limit is the one applied)", required=False),
    )


def _object(*required: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_OBJ = {"type": "object"}
_ARR = {"type": "array"}
_HEX = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_HEX_TEXT = re.compile("([0-9a-f]{2}){1,1024}")
# Keys one state_proof call may ask for (docs/protocol.md section 12).

_TX_RESULT_FIELDS = ("id", "height", "index", "ok", "code", "message", "events")
_TX_RESULT = _object(*_TX_RESULT_FIELDS, "block_hash", "sender", "nonce", "kind", "body",
                     id=_HEX, height=_INT, index=_INT, ok=_BOOL, code=_STR, message=_STR, events=_ARR,
                     block_hash=_HEX, sender=_HEX, nonce=_INT, kind=_STR, body=_OBJ)
_SUBMIT_RESULT = {
    "description": "{id} with wait none or mempool; the committed result with wait commit",
    "type": "object", "required": ["id"], "properties": _TX_RESULT["properties"],
}
_PAGE = _object("items", "total", "offset", "limit", items=_ARR, total=_INT, offset=_INT, limit=_INT)
_CERTIFICATE = _object("height", "view", "block_hash", "votes", height=_INT, view=_INT, block_hash=_HEX,
                       votes={"type": "array", "items": {"type": "array", "items": _HEX}})
_PROOF = _object("index", "tx_count", "path", "root", index=_INT, tx_count=_INT, root=_HEX,
                 path={"type": "array", "items": _HEX})


_PROVE = Param("prove", {"type": "boolean"}, "also answer the proofs of every state key read, with the header "
                "and certificate of that height (docs/protocol.md section 12)", required=False)


def _checked(params: tuple[Param, ...], handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The handler behind the table's own checks (type, enum, minimum): also
    each declared ``pattern`` (-32602), and a coded error's extra data."""
    # Every declared pattern is anchored (^...$); fullmatch keeps Python's $
    # from accepting a trailing newline.
    patterns = {p.name: (p.schema["pattern"], re.compile(p.schema["pattern"].removeprefix("^").removesuffix("$")))
                for p in params if "pattern" in p.schema}

    async def handle(**values: Any) -> Any:
        for name, (text, pattern) in patterns.items():
            value = values.get(name)
            if value is not None and not pattern.fullmatch(value):
                raise RpcError(INVALID_PARAMS, f"invalid params: {name} must match {text}")
        try:
            return await handler(**values)
        except RpcCodedError as error:
            data = {**queries.to_json(error.data), "code": error.code}
            raise RpcError(APPLICATION_ERROR, f"{error.code}: {error.message}", data) from None

    return handle


# -- the methods --------------------------------------------------------------------

def _no_trace(subject: str) -> str:
    return f"no trace recorded for {subject}; check the order id or merchant/sku/lot"


class _Api:
    def __init__(self, node: NodeView, page_size_max: int, commit_wait_s: float, pools: ReadPools | None) -> None:
        self.node = node
        self.page_size_max = page_size_max
        self.commit_wait_s = commit_wait_s
        self._pools = pools

    def methods(self) -> list[tuple[str, str, tuple[Param, ...], dict[str, Any], Callable[..., Awaitable[Any]]]]:
        paging = _paging(self.page_size_max)
        return [
            ("tx_submit", "Submit a signed transaction; answer once it is in the mempool (default) "
                          "or once committed.", (
                _string("tx", "the signed transaction's bytes as hex"),
                _param("wait", {"type": "string", "enum": list(WAIT_MODES)},
                       "none | mempool (default): answer {id} once admitted; commit: answer the committed result, "
                       "or the error tx.timeout with the id in error.data", required=False),
            ), _SUBMIT_RESULT, self.tx_submit),
            ("tx_get", "A committed transaction with its result and block.", (
                _hex_id("id", "the transaction id (hex SHA-256 of its signed bytes)"),
            ), _TX_RESULT, self.tx_get),
            ("block_get", "A committed block: header, transaction ids and each one's result (ok, code), evidence and "
                          "commit certificate, the header and certificate also as their canonical bytes (what a light "
                          "client checks).", (
                _param("height", {"type": "integer", "minimum": 1}, "the block height (default: the last committed)",
                       required=False),
            ), _object("height", "hash", "header", "txs", "results", "evidence", "certificate", "header_bytes",
                       "certificate_bytes", height=_INT, hash=_HEX, header=_OBJ,
                       txs={"type": "array", "items": _HEX}, results=_ARR, evidence={"type": "array", "items": _HEX},
                       evidence_ids={"type": "array", "items": _HEX}, certificate=_CERTIFICATE,
                       header_bytes=_HEX, certificate_bytes=_HEX), self.block_get),
            ("genesis_get", "The chain's genesis document and its hash: a light client that trusts only the hash "
                            "checks the document against it.", (),
             _object("document", "hash", document=_OBJ, hash=_HEX), self.genesis_get),
            ("chain_status", "The chain id, the last committed block, the validators, the view and the peers.", (),
             _object("chain_id", "height", "last_block_hash", "last_block_time_ms", "validators", "view", "peers",
                     chain_id=_STR, genesis_hash=_HEX, height=_INT, last_block_hash=_HEX, last_block_time_ms=_INT,
                     last_state_root=_HEX, validators={"type": "array", "items": _HEX}, view=_INT,
                     peers={"type": "array", "items": _HEX}, mempool_size=_INT), self.chain_status),
            ("account_get", "An account's roles, last used and next nonce, balances and referrer; "
                            "an unregistered key answers with no roles.", (
                _hex_id("address", "the account's hex public key"),
                _PROVE,
            ), _object("address", "roles", "nonce", "next_nonce", "balances", "referrer",
                       address=_HEX, roles=_ARR, nonce=_INT, next_nonce=_INT, balances=_OBJ,
                       referrer={"type": ["string", "null"]}), self.account_get),
            ("asset_get", "An asset's issuer, name and supply.", (
                _string("symbol", "the asset symbol (the native one is SHC)", "^[A-Za-z0-9._-]{1,64}$"),
                _PROVE,
            ), _object("symbol", "supply", symbol=_STR, supply=_INT), self.asset_get),
            ("coupon_batch_get", "A coupon batch: its declaration and its online, offline and redeemed counts.", (
                _hex_id("batch", "the batch id (the id of its coupon.issue transaction)"),
                _PROVE,
            ), _object("batch", "merchant", "brand", "content", "discount", "price", "total", "offline_quota",
                       "sold_online", "sold_offline", "sold", "redeemed", "valid_from", "valid_until", "serial_prefix"),
             self.coupon_batch_get),
            ("coupon_get", "One coupon: its holder, redemption and full history with the transaction ids that prove it.", (
                _string("coupon", "the coupon as batch/n", "^[0-9a-f]{64}/[0-9]{1,20}$"),
                _PROVE,
            ), _object("coupon", "batch", "n", "serial", "holder", "redeemed", "history"), self.coupon_get),
            ("product_get", "A listed product.", (
                _string("product", "the product as merchant/sku", "^[0-9a-f]{64}/[A-Za-z0-9._-]{1,64}$"),
                _PROVE,
            ), _object("product", "merchant", "sku", "price", "stock"), self.product_get),
            ("order_get", "An order with its state (created, shipped, delivered, disputed, cancelled, refunded, "
                          "settled, resolved).", (
                _hex_id("order", "the order id (the id of its order.create transaction)"),
                _PROVE,
            ), _object("order", "state", "buyer", "merchant"), self.order_get),
            ("trace_get", "A trace subject's whole history, corrections included, with the transaction ids that prove it.", (
                _string("subject", "an order id (its shipment) or a product lot merchant/sku/lot", "^.{1,255}$"),
                _PROVE,
            ), _object("subject", "stage", "events"), self.trace_get),
            ("coupons_by_serial", "The coupons a serial such as TEA-4 names, one per batch of any merchant whose serial "
                                  "prefix it carries (serials are not unique across merchants).", (
                _string("serial", "a coupon serial: a batch's serial prefix, a dash, the coupon's number", "^.{1,100}$"),
            ), _object("items", "height", "block_time_ms", items=_ARR, height=_INT, block_time_ms=_INT), self.coupons_by_serial),
            ("orders_by_tracking", "The orders shipped under a tracking number, of any merchant (tracking numbers are not "
                                   "unique across carriers).", (
                _string("tracking", "a tracking number as the merchant gave it in order.ship", "^.{1,256}$"),
            ), _object("items", "height", "block_time_ms", items=_ARR, height=_INT, block_time_ms=_INT),
             self.orders_by_tracking),
            ("latest_created", "The objects of a kind (order, coupon-batch, contract) the latest blocks created, newest "
                               "first: the explorer's home.", (
                _string("kind", "order, coupon-batch or contract", "^(order|coupon-batch|contract)$"),
                _param("limit", {"type": "integer", "minimum": 1}, f"how many (default {min(DEFAULT_PAGE_SIZE, self.page_size_max)}, "
                       f"capped at {self.page_size_max})", required=False),
            ), _object("items", "height", "block_time_ms", items=_ARR, height=_INT, block_time_ms=_INT), self.latest_created),
            ("trace_export", "A trace as a GS1 EPCIS 2.0 JSON-LD document (docs/commerce.md, \"EPCIS export\").", (
                _string("subject", "an order id (its shipment) or a product lot merchant/sku/lot", "^.{1,255}$"),
            ), _object("document", "height", "block_time_ms", document=_OBJ, height=_INT, block_time_ms=_INT),
             self.trace_export),
            ("contract_get", "A multi-party contract: parties, signatures and state.", (
                _hex_id("contract", "the contract id (the id of its contract.create transaction)"),
                _PROVE,
            ), _object("contract", "state"), self.contract_get),
            ("evidence_list", "Committed evidence of validators that voted twice, by the height that included it.", (
                _param("from_height", {"type": "integer", "minimum": 0}, "only evidence included at this height or later",
                       required=False),
                *paging,
            ), _PAGE, self.evidence_list),
            ("orders_list", "Orders, filtered by buyer, merchant and state, a page at a time.", (
                _hex_id("buyer", "only this buyer's orders", required=False),
                _hex_id("merchant", "only this merchant's orders", required=False),
                _param("state", {"type": "string", "enum": list(ORDER_STATES)}, "only orders in this state", required=False),
                *paging,
            ), _PAGE, self.orders_list),
            ("products_list", "Products, filtered by merchant and category, a page at a time.", (
                _hex_id("merchant", "only this merchant's products", required=False),
                _string("category", "only products of this category", "^[A-Za-z0-9._-]{1,64}$", required=False),
                *paging,
            ), _PAGE, self.products_list),
            ("coupons_list", "Coupons, filtered by batch and holder, a page at a time.", (
                _hex_id("batch", "only coupons of this batch", required=False),
                _hex_id("holder", "only coupons this account holds", required=False),
                *paging,
            ), _PAGE, self.coupons_list),
            ("state_proof", f"Proofs of state keys at one height (default: the last committed; a node keeps the last "
                            f"state.proof_window_blocks, older ones answer state.pruned): each key's value or absence "
                            f"with its proof to the header's state_root, and that height's header and commit "
                            f"certificate, all read from one version (docs/protocol.md section 7). At most "
                            f"{STATE_PROOF_KEYS_MAX} keys a call.", (
                _param("keys", {"type": "array", "items": _HEX}, f"the state keys as hex, 1 to {STATE_PROOF_KEYS_MAX}"),
                _param("height", {"type": "integer", "minimum": 1}, "the height (default: the last committed)",
                       required=False),
            ), _object("height", "block_hash", "header", "header_bytes", "certificate", "certificate_bytes", "proofs",
                       height=_INT, block_hash=_HEX, header=_OBJ, header_bytes=_HEX, certificate=_CERTIFICATE,
                       certificate_bytes=_HEX,
                       proofs={"type": "array", "items": _object("key", "value", "proof", key=_HEX,
                                                                 value={"type": ["string", "null"]}, proof=_HEX)}),
             self.state_proof),
            ("proof_tx", "A committed transaction's header, certificate and the Merkle paths of the transaction "
                         "(to tx_root) and of its result (to results_root).", (
                _hex_id("id", "the transaction id"),
            ), _object("id", "height", "block_hash", "header", "certificate", "tx", "result", "result_leaf",
                       "tx_proof", "result_proof", id=_HEX, height=_INT, block_hash=_HEX, header=_OBJ,
                       certificate=_CERTIFICATE, tx=_HEX, result=_OBJ, result_leaf=_HEX, tx_proof=_PROOF,
                       result_proof=_PROOF), self.proof_tx),
        ]

    # -- transactions ----------------------------------------------------------------

    async def tx_submit(self, tx: str, wait: str = "mempool") -> dict[str, Any]:
        if not _HEX_BYTES.fullmatch(tx):
            raise CodedError("tx.malformed", "tx must be the signed transaction's bytes as an even number of hex digits")
        raw = bytes.fromhex(tx)
        tx_id = transaction_id(raw)
        store = self.node.store
        if wait == "commit":
            # A retry after tx.timeout finds the answer rather than tx.bad_nonce.
            committed = store.transaction(tx_id)
            if committed is not None:
                return _tx_view(tx_id, committed)
        try:
            self.node.submit(raw)
        except RequestRejected as error:
            # Already pending (a retry): waiting for its commit is what was asked.
            if not (wait == "commit" and error.code == "tx.duplicate"):
                raise
        if wait != "commit":
            return {"id": tx_id}
        await self.node.wait_for_commit(tx_id, self.commit_wait_s)
        committed = store.transaction(tx_id)
        if committed is None:
            raise RpcCodedError("tx.timeout", f"transaction {tx_id} is not committed after {self.commit_wait_s:g} s; "
                                "it may still commit: ask tx_get with its id", id=tx_id)
        return _tx_view(tx_id, committed)

    async def tx_get(self, id: str) -> dict[str, Any]:  # noqa: A002 - the contract's name
        return _tx_view(id, self._committed(id))

    def _committed(self, tx_id: str) -> StoredTransaction:
        stored = self.node.store.transaction(tx_id)
        if stored is None:
            pending = " (it is pending in the mempool)" if tx_id in self.node.mempool else ""
            raise CodedError("tx.unknown", f"no committed transaction {tx_id}{pending}; check the id or wait for its commit")
        return stored

    async def proof_tx(self, id: str) -> dict[str, Any]:  # noqa: A002 - the contract's name
        stored = self._committed(id)
        block, results, certificate = await self._off_loop(lambda: self._block_parts(stored.height))
        tx_count = len(block.txs)
        result_leaves = [result.leaf_bytes() for result in results]
        result = results[stored.index]
        header = block.header
        return {
            "id": id, "height": stored.height, "index": stored.index, "tx_count": tx_count,
            "block_hash": block.hash().hex(), "header": queries.to_json(header.to_map()),
            "header_bytes": header.encode().hex(), "certificate": queries.to_json(certificate.to_map()),
            "certificate_bytes": certificate.encode().hex(),
            "tx": stored.raw.hex(),
            "result": queries.to_json({"ok": result.ok, "code": result.code, "message": result.message,
                                       "events": list(result.events)}),
            "result_leaf": result_leaves[stored.index].hex(),
            "tx_proof": {"index": stored.index, "tx_count": tx_count, "root": header.tx_root.hex(),
                         "path": [node.hex() for node in inclusion_proof(block.txs, stored.index)]},
            "result_proof": {"index": stored.index, "tx_count": tx_count, "root": header.results_root.hex(),
                             "path": [node.hex() for node in inclusion_proof(result_leaves, stored.index)]},
        }

    async def state_proof(self, keys: list[str], height: int | None = None) -> dict[str, Any]:
        if not 1 <= len(keys) <= STATE_PROOF_KEYS_MAX or not all(isinstance(key, str) and _HEX_TEXT.fullmatch(key)
                                                                   for key in keys):
            raise RpcError(INVALID_PARAMS, f"invalid params: keys must be 1 to {STATE_PROOF_KEYS_MAX} hex strings")
        store = self.node.store
        top = store.last_height()
        height = top if height is None else height
        if not 1 <= height <= top:
            raise RpcCodedError("state.unknown_height", f"height {height} is not committed here (the last is {top})")

        def prove() -> dict[str, Any]:
            try:
                root = store.tree_root(height)
                header, certificate = self._header_parts(height)
                tree = StateTree(store, STATE_TREE_RADIX_BITS)
                proofs = []
                for key in dict.fromkeys(keys):
                    value, proof = tree.prove(root, key_path(bytes.fromhex(key)))
                    proofs.append({"key": key, "value": None if value is None else value.hex(),
                                   "proof": proof.encode(STATE_TREE_RADIX_BITS).hex()})
            except CodedError as error:          # state.pruned: the height left the window while it was read
                raise RpcCodedError(error.code, error.message) from None
            return {"height": height, "block_hash": header.hash().hex(), **self._certified_header(header, certificate),
                    "proofs": proofs}

        return await self._off_loop(prove)

    # -- blocks and the chain -----------------------------------------------------------

    def _header_parts(self, height: int) -> tuple[Header, CommitCertificate]:
        """A committed height's header and certificate, its transactions left undecoded."""
        header, certificate = self.node.store.header(height), self.node.store.certificate(height)
        if header is None or certificate is None:
            raise RuntimeError(f"height {height} is indexed but not stored whole: the store is damaged")
        return header, certificate

    @staticmethod
    def _certified_header(header: Header, certificate: CommitCertificate) -> dict[str, Any]:
        """The fields a light client checks a height by (docs/protocol.md)."""
        return {"header": queries.to_json(header.to_map()), "header_bytes": header.encode().hex(),
                "certificate": queries.to_json(certificate.to_map()), "certificate_bytes": certificate.encode().hex()}

    def _block_parts(self, height: int):
        store = self.node.store
        block, results, certificate = store.block_by_height(height), store.results(height), store.certificate(height)
        if block is None or results is None or certificate is None:
            raise RuntimeError(f"height {height} is indexed but not stored whole: the store is damaged")
        return block, results, certificate

    async def block_get(self, height: int | None = None) -> dict[str, Any]:
        last = self.node.store.last_height()
        if height is None:
            height = last
        if not 1 <= height <= last:
            raise CodedError("block.unknown", f"no committed block at height {height}; the last committed height is {last}")
        block, results, certificate = await self._off_loop(lambda: self._block_parts(height))
        return {
            "height": height, "hash": block.hash().hex(), "header": queries.to_json(block.header.to_map()),
            "txs": [transaction_id(raw) for raw in block.txs],
            "results": [{"ok": result.ok, "code": result.code} for result in results],
            "evidence": [record.hex() for record in block.evidence],
            "evidence_ids": [hashlib.sha256(record).hexdigest() for record in block.evidence],
            "certificate": queries.to_json(certificate.to_map()),
            "header_bytes": block.header.encode().hex(), "certificate_bytes": certificate.encode().hex(),
        }

    async def genesis_get(self) -> dict[str, Any]:
        return {"document": self.node.genesis.document, "hash": self.node.genesis.hash.hex()}

    async def chain_status(self) -> dict[str, Any]:
        node, store = self.node, self.node.store
        height = store.last_height()
        last = store.header(height) if height else None
        status = node.status()
        last_hash = store.last_block_hash() or node.genesis.hash
        state_root = store.last_state_root()
        return {
            "chain_id": node.chain_id, "genesis_hash": node.genesis.hash.hex(),
            "height": height, "last_block_hash": last_hash.hex(),
            "last_block_time_ms": last.time_ms if last is not None else node.genesis.genesis_time_ms,
            "last_state_root": state_root.hex() if state_root is not None else None,
            "validators": [key.hex() for key in node.genesis.validators.keys],
            "view": status.get("view", 0), "peers": list(status.get("peers", [])),
            "mempool_size": len(node.mempool),
        }

    async def evidence_list(self, from_height: int = 0, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        records = await self._off_loop(scan=True, read=lambda: sorted(
            (height, hashlib.sha256(record).hexdigest(), record) for height, record in self.node.store.evidence()
            if height >= from_height))
        limit = self._limit(limit)
        items = [_evidence_view(height, record_id, record) for height, record_id, record in records[offset:offset + limit]]
        return {"items": items, "total": len(records), "offset": offset, "limit": limit}

    # -- commerce --------------------------------------------------------------------

    async def account_get(self, address: str, prove: bool = False) -> dict[str, Any]:
        def read(state: KeyValueReader) -> dict[str, Any]:
            view = queries.account_get(state, address)
            if view is None:
                nonce = get_nonce(state, bytes.fromhex(address))
                view = {"address": address, "roles": [], "nonce": nonce, "next_nonce": nonce + 1, "balances": {},
                        "referrer": None, "name": None, "suspended": False, "pending_roles": []}
            return view
        return await self._read(read, prove)

    async def asset_get(self, symbol: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.asset_get, symbol, "asset.unknown", f"no asset {symbol}; check the symbol", prove)

    async def coupon_batch_get(self, batch: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.coupon_batch_get, batch, "coupon.unknown_batch",
                              f"no coupon batch {batch}; check the id", prove)

    async def coupon_get(self, coupon: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.coupon_get, coupon, "coupon.unknown",
                              f"no coupon {coupon}; check the batch id and the number", prove)

    async def product_get(self, product: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.product_get, product, "product.unknown",
                              f"no product {product}; check the merchant and the sku", prove)

    async def order_get(self, order: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.order_get, order, "order.unknown", f"no order {order}; check the id", prove)

    async def trace_get(self, subject: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.trace_get, subject, "trace.unknown", _no_trace(subject), prove)

    async def coupons_by_serial(self, serial: str) -> dict[str, Any]:
        split = split_serial(serial)
        batches = self.node.store.search(SERIAL_PREFIX, split[0]) if split is not None else []

        def read(state: KeyValueReader) -> dict[str, Any]:
            found = []
            for batch in batches:
                coupon = queries.coupon_get(state, f"{batch}/{split[1]}")
                if coupon is not None:
                    found.append({**coupon, "merchant": queries.coupon_batch_get(state, batch)["merchant"]})
            return {"items": found}

        return await self._read(read, False)

    async def orders_by_tracking(self, tracking: str) -> dict[str, Any]:
        orders = self.node.store.search(TRACKING, tracking)
        return await self._read(lambda state: {"items": [view for view in (queries.order_get(state, order) for order in orders)
                                                   if view is not None and view.get("tracking") == tracking]}, False)

    async def latest_created(self, kind: str, limit: int | None = None) -> dict[str, Any]:
        read_at = self._read_at(self.node.store.last_height())
        items = [created_at(found) for found in self.node.store.search(CREATED, kind, self._limit(limit))]
        return {"items": [{"id": object_id, "created_height": height} for height, object_id in items], **read_at}

    async def trace_export(self, subject: str) -> dict[str, Any]:
        def read(state: KeyValueReader) -> dict[str, Any]:
            trace = self._found(queries.trace_get(state, subject), "trace.unknown", _no_trace(subject))
            return {"trace": trace, "is_order": queries.order_get(state, subject) is not None}

        answer = await self._read(read, False)
        document = trace_document(answer["trace"], self.node.chain_id, answer["is_order"], answer["block_time_ms"])
        return {"document": document, "height": answer["height"], "block_time_ms": answer["block_time_ms"]}

    async def contract_get(self, contract: str, prove: bool = False) -> dict[str, Any]:
        return await self._read_one(queries.contract_get, contract, "contract.unknown", f"no contract {contract}; check the id",
                              prove)

    async def _read_one(self, getter: Callable[[KeyValueReader, str], dict[str, Any] | None], object_id: str, code: str,
                  message: str, prove: bool) -> dict[str, Any]:
        """``getter`` for ``object_id`` through ``_read``; ``code`` when there is no such object."""
        return await self._read(lambda state: self._found(getter(state, object_id), code, message), prove)

    async def _read(self, query: Callable[[KeyValueReader], dict[str, Any]], prove: bool) -> dict[str, Any]:
        return await self._off_loop(lambda: self._read_now(query, prove))

    async def _off_loop(self, read: Callable[[], T], scan: bool = False) -> T:
        """Run a read of the store on a thread of the node's pools: a scan of
        every order or the decoding of a full block must not hold the event
        loop that runs consensus and the peers (a Python thread still shares
        the GIL, but the loop gets its turn every few milliseconds instead of
        after the whole read). A call abandoned meanwhile leaves its read to
        finish on its thread, which keeps its place in the pool until then."""
        pool = None if self._pools is None else self._pools.scans if scan else self._pools.reads
        return await asyncio.get_running_loop().run_in_executor(pool, read)

    def _read_now(self, query: Callable[[KeyValueReader], dict[str, Any]], prove: bool) -> dict[str, Any]:
        """``query`` run on the state of the last committed height, read from
        that height's version of the state tree (one snapshot, whatever
        commits meanwhile); the answer says at which ``height`` and
        ``block_time_ms`` it was read, and with ``prove`` also carries the
        proofs of every key the query read (as ``state_proof`` answers them),
        so a light client can run the same query on them."""
        store = self.node.store
        height = store.last_height()
        try:
            reader = _TreeState(StateTree(store, STATE_TREE_RADIX_BITS), store.tree_root(height))
            view = query(reader)
        except CodedError as error:
            raise RpcCodedError(error.code, error.message) from None
        answer = {**queries.to_json(view), **self._read_at(height)}
        if prove:
            if not height:
                raise RpcCodedError("state.unknown_height", "no block is committed yet, so nothing certifies the state; "
                                                           "ask again after the first block")
            answer.update(**self._certified_header(*self._header_parts(height)), proofs=reader.proofs())
        return answer

    async def orders_list(self, buyer: str | None = None, merchant: str | None = None, state: str | None = None,
                          offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        return await self._scan(queries.orders_list, buyer=buyer, merchant=merchant, state_name=state, offset=offset,
                                limit=self._limit(limit))

    async def products_list(self, merchant: str | None = None, category: str | None = None,
                            offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        return await self._scan(queries.products_list, merchant=merchant, category=category, offset=offset,
                                limit=self._limit(limit))

    async def coupons_list(self, batch: str | None = None, holder: str | None = None,
                           offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        return await self._scan(queries.coupons_list, batch=batch, holder=holder, offset=offset, limit=self._limit(limit))

    async def _scan(self, list_query: Callable[..., dict[str, Any]], **filters: Any) -> dict[str, Any]:
        """A list method: ``list_query`` scans the latest state, off the loop."""
        read_at = self._read_at(self.node.store.last_height())
        page = await self._off_loop(lambda: list_query(self.node.store.state(), **filters), scan=True)
        return {**queries.to_json(page), **read_at}

    def _read_at(self, height: int) -> dict[str, int]:
        """``height`` and its block's time: where an answer was read (a list,
        which scans the latest state, was read at that height or a later one)."""
        header = self.node.store.header(height) if height else None
        return {"height": height,
                "block_time_ms": header.time_ms if header is not None else self.node.genesis.genesis_time_ms}

    def _limit(self, limit: int | None) -> int:
        return min(limit if limit is not None else DEFAULT_PAGE_SIZE, self.page_size_max)

    @staticmethod
    def _found(view: dict[str, Any] | None, code: str, message: str) -> dict[str, Any]:
        if view is None:
            raise CodedError(code, message)
        return queries.to_json(view)


class _TreeState:
    """A state reader over one version of the state tree, that remembers the
    keys it was asked for and proves them."""

    def __init__(self, tree: StateTree, root: bytes | None) -> None:
        self._tree, self._root = tree, root
        self._read: dict[bytes, None] = {}

    def get(self, key: bytes) -> bytes | None:
        self._read[key] = None
        return self._tree.get(self._root, key_path(key))

    def iterate_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        raise RuntimeError("a getter read a range of keys, which no proof covers: a getter reads by key and index only")

    def proofs(self) -> list[dict[str, Any]]:
        answer = []
        for key in self._read:
            value, proof = self._tree.prove(self._root, key_path(key))
            answer.append({"key": key.hex(), "value": None if value is None else value.hex(),
                           "proof": proof.encode(STATE_TREE_RADIX_BITS).hex()})
        return answer


def _tx_view(tx_id: str, stored: StoredTransaction) -> dict[str, Any]:
    tx = parse_transaction(stored.raw, len(stored.raw))
    result = stored.result
    return queries.to_json({
        "id": tx_id, "height": stored.height, "index": stored.index, "block_hash": stored.block_hash,
        "ok": result.ok, "code": result.code, "message": result.message, "events": list(result.events),
        "sender": tx.sender, "nonce": tx.nonce, "kind": tx.kind, "body": tx.body,
    })


def _evidence_view(height: int, record_id: str, record: bytes) -> dict[str, Any]:
    view: dict[str, Any] = {"id": record_id, "height": height, "record": record.hex()}
    try:
        evidence = decode_evidence(record)
    except CodedError:  # committed evidence decoded when its block was validated; keep the raw record regardless
        return view
    first, second = evidence.first, evidence.second
    view.update({"validator": first.validator.hex(), "phase": first.phase, "vote_height": first.height,
                 "view": first.view, "block_hashes": [first.block_hash.hex(), second.block_hash.hex()]})
    return view


__all__ = ["NodeView", "RpcCodedError", "RPC_API_VERSION", "WAIT_MODES", "build_method_table"]
