"""The JSON-RPC methods of docs/protocol.md section 12, called through MethodTable.dispatch
with JSON bodies, over a real ChainApplication on the in-memory store."""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from typing import Any

import pytest

from chain.block import Header
from chain.errors import MerkleProofError
from chain.genesis import genesis_from_document
from chain.keys import SignatureVerifier
from chain.merkle import verify_inclusion
from chain.transaction import SignedTransaction, TransactionDecoder, build_transaction
from chain.votes import certificate_from_map, sign_vote, verify_certificate
from commerce import queries
from commerce.executor import get_nonce
from consensus.messages import Evidence
from node.application import ChainApplication, CommittedBlock
from node.jsonrpc import MethodTable
from node.mempool import Mempool, MempoolLimits
from node.rpc_methods import ReadPools, build_method_table
from storage.blockstore import BlockStore
from storage.memory import MemoryStore
from tests.factories import certify, seeded_key, validator_keys
from tests.waiting import eventually

KEYS = validator_keys(4)
ADMIN, SHOP, BOB, GHOST = (seeded_key(name) for name in ("admin", "shop", "bob", "ghost"))
GENESIS = genesis_from_document({
    "chain_id": "shopchain-rpc", "genesis_time_ms": 1_767_225_600_000,
    "validators": [key.address for key in KEYS], "admins": [ADMIN.address], "treasury": seeded_key("treasury").address,
    "allocations": [{"address": ADMIN.address, "amount": 10**12}],
})
T0 = GENESIS.genesis_time_ms
DAY_MS = 24 * 3600 * 1000
UNKNOWN_ID = "ab" * 32
PAGE_SIZE_MAX = 2

SECTION_8_METHODS = {
    "tx_submit", "tx_get", "block_get", "chain_status", "account_get", "coupon_batch_get", "coupon_get",
    "product_get", "order_get", "trace_get", "contract_get", "evidence_list", "orders_list", "products_list",
    "coupons_list", "proof_tx", "state_proof", "genesis_get",
}


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class FakeNode:
    """A NodeView over a real application: submit goes to the real mempool,
    wait_for_commit completes when ``commit_next`` commits the transaction."""

    def __init__(self) -> None:
        self.store = BlockStore(MemoryStore())
        verifier = SignatureVerifier(1_000)
        self.mempool = Mempool(MempoolLimits(), lambda sender: get_nonce(self.store.state(), sender), lambda: 64 * 1024,
                               TransactionDecoder(GENESIS.chain_id, verifier))
        self.app = ChainApplication(self.store, GENESIS, verifier)
        self.genesis, self.chain_id = GENESIS, GENESIS.chain_id
        self.gossiped: list[str] = []
        self._sent: dict[str, int] = {}
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self.waiting: asyncio.Event | None = None  # set when a waiter is registered, so a test commits after it

    def status(self) -> dict[str, Any]:
        return {"view": 3, "peers": [KEYS[1].address, KEYS[2].address]}

    def submit(self, raw: bytes) -> SignedTransaction:
        tx = self.mempool.add_raw(raw)
        self.gossiped.append(tx.id)
        return tx

    async def wait_for_commit(self, tx_id: str, timeout_s: float) -> bool:
        if self.store.tx_location(tx_id) is not None:
            return True
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_id, []).append(future)
        if self.waiting is not None:
            self.waiting.set()
        try:
            return await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(tx_id, [])
            if future in waiters:
                waiters.remove(future)

    def _committed(self, committed: CommittedBlock) -> None:
        for tx in committed.txs:
            for future in self._waiters.pop(tx.id, []):
                if not future.done():
                    future.set_result(True)

    def send(self, key, kind: str, body: dict[str, Any]) -> SignedTransaction:
        """Sign with the sender's next nonce, pending ones counted, and submit."""
        nonce = max(get_nonce(self.store.state(), key.public_key), self._sent.get(key.address, 0)) + 1
        self._sent[key.address] = nonce
        return self.submit(build_transaction(key, GENESIS.chain_id, nonce, kind, body).raw)

    def commit_next(self, evidence: tuple[bytes, ...] = ()) -> CommittedBlock:
        height = self.store.last_height() + 1
        txs = self.mempool.reap(self.app.param("block_txs_max"), self.app.param("block_bytes_max"))
        block = self.app.build_block(height, self.store.last_block_hash(), T0 + height * 1000, KEYS[height % 4].public_key,
                                     evidence, txs)
        committed = self.app.persist_block(block, certify(block, KEYS, GENESIS.validators, GENESIS.chain_id), self.mempool.pending)
        self.mempool.on_commit(committed.txs)
        self._committed(committed)
        return committed


class Scenario:
    """A chain of real blocks holding one of everything the getters read."""

    def __init__(self) -> None:
        node = self.node = FakeNode()
        self.table = build_method_table(node, batch_max=10, page_size_max=PAGE_SIZE_MAX, commit_wait_s=5.0)
        node.send(SHOP, "account.register", {"name": "shop"})
        node.send(SHOP, "account.request_role", {"role": "merchant", "profile_hash": digest("shop")})
        node.send(BOB, "account.register", {"name": "bob"})
        node.commit_next()
        node.send(ADMIN, "account.approve", {"account": SHOP.address, "role": "merchant"})
        node.send(ADMIN, "funds.mint", {"to": BOB.address, "amount": 1_000_000})
        node.commit_next()
        node.send(SHOP, "product.list", {"sku": "tea", "title": "Tea", "price": 10_000, "stock": 10, "category": "food"})
        node.send(SHOP, "product.list", {"sku": "mug", "title": "Mug", "price": 2_000, "stock": 5, "category": "ware"})
        node.send(SHOP, "product.list", {"sku": "pot", "title": "Pot", "price": 3_000, "stock": 5, "category": "ware"})
        self.batch = node.send(SHOP, "coupon.issue", {
            "brand": "Acme", "content": "10 off", "discount": {"kind": "amount", "value": 1_000}, "price": 500, "total": 9,
            "valid_from": T0, "valid_until": T0 + 30 * DAY_MS, "serial_prefix": "ACME"}).id
        node.send(SHOP, "asset.issue", {"symbol": "WINE", "name": "Wine futures", "supply": 1_000})
        node.commit_next()
        self.order = node.send(BOB, "order.create", {"merchant": SHOP.address, "items": [{"sku": "tea", "qty": 1}],
                                                     "shipping_hash": digest("addr")}).id
        node.send(BOB, "order.create", {"merchant": SHOP.address, "items": [{"sku": "mug", "qty": 1}], "shipping_hash": digest("a")})
        node.send(BOB, "coupon.buy", {"batch": self.batch})
        node.send(BOB, "coupon.buy", {"batch": self.batch})
        self.failed = node.send(BOB, "funds.transfer", {"to": SHOP.address, "amount": 10**15}).id
        self.lot = f"{SHOP.address}/tea/L1"
        node.send(SHOP, "trace.record", {"subject": self.lot, "stage": "procurement", "location": "Shenzhen",
                                         "handler": "line-3", "data_hash": digest("d")})
        self.contract = node.send(SHOP, "contract.create", {
            "asset": "WINE", "price_per_unit": 10, "settle_at": T0 + DAY_MS, "expires_at": T0 + 2 * DAY_MS,
            "document_hash": digest("terms"), "parties": [{"account": BOB.address, "units": 3}]}).id
        self.block4 = node.commit_next()
        self.transfer = node.send(ADMIN, "funds.transfer", {"to": BOB.address, "amount": 7}).id
        first, second = (sign_vote(KEYS[0], GENESIS.chain_id, "commit", 4, 0, digest(name)) for name in ("a", "b"))
        self.evidence = Evidence.of(first, second).encode()
        self.block5 = node.commit_next(evidence=(self.evidence,))
        assert all(result.ok for result in self.block4.execution.results[:4])


@pytest.fixture(scope="module")
def chain() -> Scenario:
    return Scenario()


def call(table: MethodTable, method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    response = asyncio.run(table.dispatch(json.dumps(body).encode()))
    assert response["id"] == request_id and response["jsonrpc"] == "2.0"
    return json.loads(json.dumps(response))  # JSON-ready: survives a round trip unchanged


def result(table: MethodTable, method: str, params: Any = None) -> Any:
    response = call(table, method, params)
    assert "result" in response, response
    return response["result"]


def error(table: MethodTable, method: str, params: Any = None) -> dict[str, Any]:
    response = call(table, method, params)
    assert "error" in response, response
    return response["error"]


def app_error_code(table: MethodTable, method: str, params: Any = None) -> str:
    failure = error(table, method, params)
    assert failure["code"] == -32000 and failure["message"].startswith(failure["data"]["code"] + ": ")
    return failure["data"]["code"]


def required_fields(table: MethodTable, method: str) -> set[str]:
    described = {entry["name"]: entry for entry in table.openrpc_document()["methods"]}
    return set(described[method]["result"]["schema"].get("required", ()))


# -- discovery ------------------------------------------------------------------------

def test_rpc_discover_documents_every_section_8_method(chain):
    document = result(chain.table, "rpc.discover")
    described = {entry["name"]: entry for entry in document["methods"]}
    assert SECTION_8_METHODS <= set(described)
    for name, entry in described.items():
        assert entry["summary"], name
        for param in entry["params"]:
            assert param["schema"]["type"] in {"string", "integer", "array", "boolean"} and param["description"], (name, param)
    assert [p["name"] for p in described["tx_submit"]["params"]] == ["tx", "wait"]
    assert described["tx_submit"]["params"][1]["schema"]["enum"] == ["none", "mempool", "commit"]
    assert {"id", "height", "index", "ok", "code", "message", "events", "block_hash"} <= required_fields(chain.table, "tx_get")


# -- chain, blocks, transactions --------------------------------------------------------

def test_chain_status(chain):
    status = result(chain.table, "chain_status")
    assert status["chain_id"] == GENESIS.chain_id and status["height"] == 5
    assert status["last_block_hash"] == chain.block5.block.hash().hex()
    assert status["last_block_time_ms"] == chain.block5.block.header.time_ms
    assert status["validators"] == [key.address for key in KEYS]
    assert (status["view"], status["peers"]) == (3, [KEYS[1].address, KEYS[2].address])
    assert required_fields(chain.table, "chain_status") <= set(status)


def test_chain_status_before_the_first_block():
    node = FakeNode()
    status = result(build_method_table(node, 10, 10), "chain_status")
    assert (status["height"], status["last_block_hash"]) == (0, GENESIS.hash.hex())
    assert status["last_block_time_ms"] == T0
    assert app_error_code(build_method_table(node, 10, 10), "block_get") == "block.unknown"


def test_block_get(chain):
    block = chain.block4.block
    view = result(chain.table, "block_get", {"height": 4})
    assert required_fields(chain.table, "block_get") <= set(view)
    assert (view["height"], view["hash"]) == (4, block.hash().hex())
    header = Header.from_map({name: bytes.fromhex(value) if isinstance(value, str) and name != "chain_id" else value
                              for name, value in view["header"].items()})
    assert header.hash() == block.hash()
    assert view["txs"] == [tx.id for tx in chain.block4.txs] and view["evidence"] == []
    certificate = certificate_from_map({**view["certificate"], "block_hash": bytes.fromhex(view["certificate"]["block_hash"]),
                                        "votes": [[bytes.fromhex(v), bytes.fromhex(s)] for v, s in view["certificate"]["votes"]]}, 4)
    verify_certificate(certificate, GENESIS.validators, GENESIS.chain_id, 4, block.hash())
    last = result(chain.table, "block_get")
    assert last["height"] == 5 and last["evidence"] == [chain.evidence.hex()]
    assert last["evidence_ids"] == [hashlib.sha256(chain.evidence).hexdigest()]
    assert result(chain.table, "block_get", [5]) == last


@pytest.mark.parametrize("params, code", [({"height": 6}, "block.unknown"), ({"height": 10**30}, "block.unknown")])
def test_block_get_unknown_height(chain, params, code):
    assert app_error_code(chain.table, "block_get", params) == code


def test_tx_get_answers_applied_and_failed_transactions(chain):
    view = result(chain.table, "tx_get", {"id": chain.order})
    assert required_fields(chain.table, "tx_get") <= set(view)
    assert (view["id"], view["height"], view["index"], view["ok"], view["code"]) == (chain.order, 4, 0, True, "")
    assert view["block_hash"] == chain.block4.block.hash().hex()
    assert (view["sender"], view["kind"], view["nonce"]) == (BOB.address, "order.create", 2)
    assert view["body"]["shipping_hash"] == digest("addr").hex()
    assert view["events"] and all("kind" in event for event in view["events"])
    failed = result(chain.table, "tx_get", [chain.failed])
    assert (failed["ok"], failed["code"]) == (False, "funds.insufficient") and failed["message"]


def test_unknown_transaction(chain):
    assert app_error_code(chain.table, "tx_get", {"id": UNKNOWN_ID}) == "tx.unknown"
    assert app_error_code(chain.table, "proof_tx", {"id": UNKNOWN_ID}) == "tx.unknown"


# -- proofs -----------------------------------------------------------------------------

def test_proof_tx_paths_verify_against_the_header_roots(chain):
    for tx in chain.block4.txs:
        proof = result(chain.table, "proof_tx", {"id": tx.id})
        assert required_fields(chain.table, "proof_tx") <= set(proof)
        header = proof["header"]
        assert proof["block_hash"] == chain.block4.block.hash().hex() and header["height"] == proof["height"] == 4
        tx_proof, result_proof = proof["tx_proof"], proof["result_proof"]
        assert tx_proof["tx_count"] == result_proof["tx_count"] == header["tx_count"] == len(chain.block4.txs)
        assert (tx_proof["root"], result_proof["root"]) == (header["tx_root"], header["results_root"])
        tx_bytes = bytes.fromhex(proof["tx"])
        assert hashlib.sha256(tx_bytes).hexdigest() == tx.id
        verify_inclusion(tx_bytes, tx_proof["index"], tx_proof["tx_count"], [bytes.fromhex(p) for p in tx_proof["path"]],
                         bytes.fromhex(header["tx_root"]))
        leaf = bytes.fromhex(proof["result_leaf"])
        assert leaf == chain.block4.execution.results[tx_proof["index"]].leaf_bytes()
        verify_inclusion(leaf, result_proof["index"], result_proof["tx_count"], [bytes.fromhex(p) for p in result_proof["path"]],
                         bytes.fromhex(header["results_root"]))


def test_proof_tx_fails_for_a_tampered_leaf_or_path(chain):
    proof = result(chain.table, "proof_tx", {"id": chain.failed})
    assert proof["result"]["ok"] is False and proof["result"]["code"] == "funds.insufficient"
    tx_proof = proof["tx_proof"]
    path = [bytes.fromhex(p) for p in tx_proof["path"]]
    root = bytes.fromhex(proof["header"]["tx_root"])
    tampered = bytearray(bytes.fromhex(proof["tx"]))
    tampered[-1] ^= 1
    with pytest.raises(MerkleProofError):
        verify_inclusion(bytes(tampered), tx_proof["index"], tx_proof["tx_count"], path, root)
    with pytest.raises(MerkleProofError):
        verify_inclusion(bytes.fromhex(proof["tx"]), tx_proof["index"], tx_proof["tx_count"], [bytes(32)] + path[1:], root)
    forged_result = bytes.fromhex(proof["result_leaf"]).replace(b"\xc2", b"\xc3", 1)  # ok: false -> true
    assert forged_result != bytes.fromhex(proof["result_leaf"])
    result_proof = proof["result_proof"]
    with pytest.raises(MerkleProofError):
        verify_inclusion(forged_result, result_proof["index"], result_proof["tx_count"],
                         [bytes.fromhex(p) for p in result_proof["path"]], bytes.fromhex(proof["header"]["results_root"]))


def test_proof_of_the_only_transaction_of_a_block(chain):
    proof = result(chain.table, "proof_tx", {"id": chain.transfer})
    assert proof["tx_proof"] == {"index": 0, "tx_count": 1, "root": proof["header"]["tx_root"], "path": []}
    verify_inclusion(bytes.fromhex(proof["tx"]), 0, 1, [], bytes.fromhex(proof["header"]["tx_root"]))


# -- accounts and commerce getters -------------------------------------------------------------

def test_account_get(chain):
    bob = result(chain.table, "account_get", {"address": BOB.address})
    assert required_fields(chain.table, "account_get") <= set(bob)
    assert (bob["address"], bob["roles"], bob["referrer"]) == (BOB.address, ["consumer"], None)
    assert (bob["nonce"], bob["next_nonce"]) == (6, 7)
    assert bob["balances"]["SHC"] == 1_000_000 + 7 - 10_000 - 2_000 - 2 * 500
    shop = result(chain.table, "account_get", [SHOP.address])
    assert "merchant" in shop["roles"] and shop["balances"]["WINE"] == 1_000


def test_account_get_of_an_unregistered_key_answers_its_next_nonce(chain):
    ghost = result(chain.table, "account_get", {"address": GHOST.address})
    assert ghost == {**ghost, "address": GHOST.address, "roles": [], "nonce": 0, "next_nonce": 1, "balances": {}, "referrer": None}


def test_commerce_getters(chain):
    table = chain.table
    batch = result(table, "coupon_batch_get", {"batch": chain.batch})
    assert required_fields(table, "coupon_batch_get") <= set(batch)
    assert (batch["merchant"], batch["total"], batch["sold_online"], batch["sold"], batch["redeemed"]) == (SHOP.address, 9, 2, 2, 0)
    coupon = result(table, "coupon_get", {"coupon": f"{chain.batch}/2"})
    assert required_fields(table, "coupon_get") <= set(coupon)
    assert (coupon["n"], coupon["serial"], coupon["holder"], coupon["redeemed"]) == (2, "ACME-2", BOB.address, False)
    assert coupon["history"] and all(entry["tx"] for entry in coupon["history"])
    product = result(table, "product_get", {"product": f"{SHOP.address}/tea"})
    assert required_fields(table, "product_get") <= set(product) and product["stock"] == 9
    order = result(table, "order_get", {"order": chain.order})
    assert required_fields(table, "order_get") <= set(order)
    assert (order["state"], order["buyer"], order["merchant"]) == ("created", BOB.address, SHOP.address)
    trace = result(table, "trace_get", {"subject": chain.lot})
    assert required_fields(table, "trace_get") <= set(trace)
    assert trace["stage"] == "procurement" and len(trace["events"]) == 1
    contract = result(table, "contract_get", {"contract": chain.contract})
    assert required_fields(table, "contract_get") <= set(contract) and contract["state"] == "open"
    asset = result(table, "asset_get", {"symbol": "WINE"})
    assert (asset["symbol"], asset["supply"]) == ("WINE", 1_000)
    export = result(table, "trace_export", {"subject": chain.lot})
    assert required_fields(table, "trace_export") <= set(export) and export["height"] == trace["height"]
    [event] = export["document"]["epcisBody"]["eventList"]
    assert event["eventID"].endswith(trace["events"][0]["tx"]) and event["bizStep"] == "receiving"


@pytest.mark.parametrize("method, params, code", [
    ("coupon_batch_get", {"batch": UNKNOWN_ID}, "coupon.unknown_batch"),
    ("coupon_get", {"coupon": f"{UNKNOWN_ID}/1"}, "coupon.unknown"),
    ("product_get", {"product": f"{UNKNOWN_ID}/tea"}, "product.unknown"),
    ("order_get", {"order": UNKNOWN_ID}, "order.unknown"),
    ("trace_get", {"subject": f"{UNKNOWN_ID}/tea/L1"}, "trace.unknown"),
    ("trace_export", {"subject": f"{UNKNOWN_ID}/tea/L1"}, "trace.unknown"),
    ("contract_get", {"contract": UNKNOWN_ID}, "contract.unknown"),
    ("asset_get", {"symbol": "NOPE"}, "asset.unknown"),
])
def test_unknown_names_give_their_codes(chain, method, params, code):
    assert app_error_code(chain.table, method, params) == code


def test_coupon_of_a_known_batch_beyond_the_sold_ones_is_unknown(chain):
    assert app_error_code(chain.table, "coupon_get", {"coupon": f"{chain.batch}/3"}) == "coupon.unknown"


@pytest.mark.parametrize("method, params", [
    ("account_get", {}),
    ("account_get", {"address": "AB" * 32}),
    ("account_get", {"address": UNKNOWN_ID + "\n"}),
    ("account_get", {"address": 5}),
    ("account_get", {"address": UNKNOWN_ID, "extra": 1}),
    ("tx_get", {"id": "xyz"}),
    ("tx_get", [UNKNOWN_ID, "more"]),
    ("block_get", {"height": 0}),
    ("block_get", {"height": "1"}),
    ("order_get", {"order": UNKNOWN_ID[:-1]}),
    ("coupon_get", {"coupon": "bad"}),
    ("product_get", {"product": "nobody/tea"}),
    ("orders_list", {"state": "lost"}),
    ("orders_list", {"limit": 0}),
    ("orders_list", {"offset": -1}),
    ("coupons_list", {"batch": "zz"}),
    ("evidence_list", {"from_height": True}),
    ("tx_submit", {"tx": "00", "wait": "forever"}),
    ("tx_submit", {}),
    ("trace_get", {"subject": ""}),
])
def test_bad_params_give_32602(chain, method, params):
    failure = error(chain.table, method, params)
    assert (failure["code"], failure["data"]["code"]) == (-32602, "rpc.invalid_params")


# -- lists --------------------------------------------------------------------------------

def test_lists_filter_and_page_within_the_cap(chain):
    table = chain.table
    products = result(table, "products_list", {"merchant": SHOP.address})
    assert required_fields(table, "products_list") <= set(products)
    assert (products["total"], products["limit"], len(products["items"])) == (3, PAGE_SIZE_MAX, PAGE_SIZE_MAX)
    rest = result(table, "products_list", {"merchant": SHOP.address, "offset": 2, "limit": 50})
    assert (rest["limit"], rest["total"], len(rest["items"])) == (PAGE_SIZE_MAX, 3, 1)
    assert {item["sku"] for item in products["items"] + rest["items"]} == {"tea", "mug", "pot"}
    assert result(table, "products_list", {"category": "ware"})["total"] == 2
    assert result(table, "products_list", {"merchant": GHOST.address})["total"] == 0
    orders = result(table, "orders_list", {"buyer": BOB.address, "state": "created"})
    assert orders["total"] == 2 and chain.order in [item["order"] for item in orders["items"]]
    assert result(table, "orders_list", {"state": "settled"})["total"] == 0
    assert result(table, "orders_list", [BOB.address])["total"] == 2  # by position
    coupons = result(table, "coupons_list", {"batch": chain.batch, "holder": BOB.address})
    assert coupons["total"] == 2 and {item["coupon"] for item in coupons["items"]} == {f"{chain.batch}/1", f"{chain.batch}/2"}
    assert result(table, "coupons_list", {"holder": SHOP.address})["total"] == 0


def test_evidence_list(chain):
    listed = result(chain.table, "evidence_list")
    assert required_fields(chain.table, "evidence_list") <= set(listed) and listed["total"] == 1
    item = listed["items"][0]
    assert (item["height"], item["record"], item["id"]) == (5, chain.evidence.hex(), hashlib.sha256(chain.evidence).hexdigest())
    assert (item["validator"], item["vote_height"], item["phase"]) == (KEYS[0].address, 4, "commit")
    assert result(chain.table, "evidence_list", {"from_height": 5})["total"] == 1
    assert result(chain.table, "evidence_list", {"from_height": 6}) == {"items": [], "total": 0, "offset": 0, "limit": PAGE_SIZE_MAX}


def test_a_batch_of_calls(chain):
    body = json.dumps([
        {"jsonrpc": "2.0", "id": 1, "method": "chain_status"},
        {"jsonrpc": "2.0", "id": 2, "method": "order_get", "params": {"order": UNKNOWN_ID}},
        {"jsonrpc": "2.0", "method": "chain_status"},
    ]).encode()
    first, second = asyncio.run(chain.table.dispatch(body))
    assert first["result"]["height"] == 5 and second["error"]["data"]["code"] == "order.unknown"


# -- submitting -----------------------------------------------------------------------------

def fresh(commit_wait_s: float = 5.0) -> tuple[FakeNode, MethodTable]:
    node = FakeNode()
    return node, build_method_table(node, batch_max=10, page_size_max=10, commit_wait_s=commit_wait_s)


def signed(nonce: int = 1, amount: int = 5, key=ADMIN) -> SignedTransaction:
    return build_transaction(key, GENESIS.chain_id, nonce, "funds.transfer", {"to": BOB.address, "amount": amount})


@pytest.mark.parametrize("wait", [None, "mempool", "none"])
def test_submit_answers_its_id_once_admitted(wait):
    node, table = fresh()
    tx = signed()
    params = {"tx": tx.raw.hex()} | ({"wait": wait} if wait else {})
    assert result(table, "tx_submit", params) == {"id": tx.id}
    assert tx.id in node.mempool and node.gossiped == [tx.id]


def test_submit_refusals_keep_the_mempool_codes():
    node, table = fresh()
    tx = signed()
    assert result(table, "tx_submit", [tx.raw.hex()]) == {"id": tx.id}
    bad_signature = bytearray(signed(2).raw)
    bad_signature[-1] ^= 1
    refusals = {
        "tx.duplicate": tx.raw.hex(),
        "tx.nonce_pending": signed(1, amount=6).raw.hex(),
        "tx.bad_nonce": signed(1000).raw.hex(),
        "tx.bad_signature": bytes(bad_signature).hex(),
        "tx.wrong_chain": build_transaction(ADMIN, "another", 2, "funds.transfer", {"to": BOB.address, "amount": 1}).raw.hex(),
        "tx.malformed": "zz",
    }
    for code, raw_hex in refusals.items():
        assert app_error_code(table, "tx_submit", {"tx": raw_hex}) == code
    assert app_error_code(table, "tx_submit", {"tx": ""}) == "tx.malformed"
    assert app_error_code(table, "tx_submit", {"tx": "abc"}) == "tx.malformed"
    assert len(node.mempool) == 1


def test_submit_with_commit_answers_once_the_block_commits():
    node, table = fresh()
    tx = signed()

    async def scenario() -> dict[str, Any]:
        node.waiting = asyncio.Event()
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tx_submit", "params": {"tx": tx.raw.hex(), "wait": "commit"}})
        answer = asyncio.get_running_loop().create_task(table.dispatch(body.encode()))
        await asyncio.wait_for(node.waiting.wait(), 5)  # a deadline, so a bug fails rather than hangs
        assert not answer.done() and tx.id in node.mempool
        node.commit_next()
        return await answer

    response = asyncio.run(scenario())
    view = response["result"]
    assert {"id", "height", "index", "ok", "code", "message", "events", "block_hash"} <= set(view)
    assert (view["id"], view["height"], view["index"], view["ok"], view["code"]) == (tx.id, 1, 0, True, "")
    assert view["events"]
    # A retry of a committed transaction answers its result, not tx.bad_nonce.
    assert result(table, "tx_submit", {"tx": tx.raw.hex(), "wait": "commit"}) == view
    assert result(table, "tx_get", {"id": tx.id}) == view


def test_submit_with_commit_of_a_failing_transaction_is_an_answer():
    node, table = fresh()
    tx = signed(amount=10**15)

    async def scenario() -> dict[str, Any]:
        node.waiting = asyncio.Event()
        answer = asyncio.get_running_loop().create_task(table.dispatch(json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": [tx.raw.hex(), "commit"]}).encode()))
        await asyncio.wait_for(node.waiting.wait(), 5)  # a deadline, so a bug fails rather than hangs
        node.commit_next()
        return await answer

    view = asyncio.run(scenario())["result"]
    assert (view["ok"], view["code"]) == (False, "funds.insufficient")


def test_submit_with_commit_times_out_with_the_id():
    node, table = fresh(commit_wait_s=0.05)
    tx = signed()
    failure = error(table, "tx_submit", {"tx": tx.raw.hex(), "wait": "commit"})
    assert (failure["code"], failure["data"]) == (-32000, {"code": "tx.timeout", "id": tx.id})
    assert tx.id in failure["message"] and tx.id in node.mempool
    # Waiting again for the same pending transaction is not tx.duplicate.
    assert error(table, "tx_submit", {"tx": tx.raw.hex(), "wait": "commit"})["data"]["code"] == "tx.timeout"
    assert app_error_code(table, "tx_submit", {"tx": tx.raw.hex()}) == "tx.duplicate"
    message = error(table, "tx_get", {"id": tx.id})["message"]
    assert "pending" in message


def test_genesis_get_serves_the_document_that_hashes_to_the_genesis_hash(chain):
    answer = result(chain.table, "genesis_get")
    assert genesis_from_document(answer["document"]).hash.hex() == answer["hash"] == GENESIS.hash.hex()


def test_serials_and_tracking_numbers_find_every_merchants_objects():
    """Serials and tracking numbers are not unique across merchants: a term
    finds each merchant's object, and only ones that exist and match."""
    scenario = Scenario()
    node, table = scenario.node, scenario.table
    other, van = seeded_key("other shop"), seeded_key("van")
    node.send(other, "account.register", {"name": "other shop"})
    node.send(other, "account.request_role", {"role": "merchant", "profile_hash": digest("other")})
    node.send(van, "account.register", {"name": "van"})
    node.send(van, "account.request_role", {"role": "carrier", "profile_hash": digest("van")})
    node.commit_next()
    node.send(ADMIN, "account.approve", {"account": other.address, "role": "merchant"})
    node.send(ADMIN, "account.approve", {"account": van.address, "role": "carrier"})
    node.commit_next()
    second = node.send(other, "coupon.issue", {
        "brand": "Other", "content": "5 off", "discount": {"kind": "amount", "value": 500}, "price": 100, "total": 5,
        "valid_from": T0, "valid_until": T0 + 30 * DAY_MS, "serial_prefix": "ACME"}).id
    node.send(other, "product.list", {"sku": "tea", "title": "Tea", "price": 1_000, "stock": 5, "category": "food"})
    node.commit_next()
    node.send(BOB, "coupon.buy", {"batch": second})
    theirs = node.send(BOB, "order.create", {"merchant": other.address, "items": [{"sku": "tea", "qty": 1}],
                                             "shipping_hash": digest("b")}).id
    node.commit_next()
    node.send(SHOP, "order.ship", {"order": scenario.order, "carrier": van.address, "tracking": "TRK 1"})
    node.send(other, "order.ship", {"order": theirs, "carrier": van.address, "tracking": "TRK 1"})
    node.commit_next()

    found = result(table, "coupons_by_serial", {"serial": "ACME-1"})
    assert required_fields(table, "coupons_by_serial") <= set(found)
    assert sorted((item["coupon"], item["merchant"], item["serial"]) for item in found["items"]) == sorted(
        [(f"{scenario.batch}/1", SHOP.address, "ACME-1"), (f"{second}/1", other.address, "ACME-1")])
    [only] = result(table, "coupons_by_serial", {"serial": "ACME-2"})["items"]    # the other batch sold one coupon
    assert only["coupon"] == f"{scenario.batch}/2"
    for nothing in ("ACME-9", "ACME", "NOPE-1", "-1"):
        assert result(table, "coupons_by_serial", {"serial": nothing})["items"] == []
    shipped = result(table, "orders_by_tracking", {"tracking": "TRK 1"})
    assert sorted((item["order"], item["merchant"]) for item in shipped["items"]) == sorted(
        [(scenario.order, SHOP.address), (theirs, other.address)])
    assert result(table, "orders_by_tracking", {"tracking": "TRK 2"})["items"] == []


def test_a_scan_of_the_state_runs_off_the_event_loop(monkeypatch):
    """orders_list over a slow scan: chain_status is answered while the scan
    waits (on the loop, the scan would hold every other call, and consensus,
    until it ended)."""
    scenario = Scenario()
    entered, release, timed_out = threading.Event(), threading.Event(), []
    scan = queries.orders_list

    def slow_scan(*args, **kwargs):
        entered.set()
        timed_out.append(not release.wait(timeout=5))
        return scan(*args, **kwargs)
    monkeypatch.setattr(queries, "orders_list", slow_scan)

    def request(method: str) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}}).encode()

    async def run() -> dict[str, Any]:
        listing = asyncio.create_task(scenario.table.dispatch(request("orders_list")))
        await eventually(entered.is_set, 5, "the scan started")
        status = await scenario.table.dispatch(request("chain_status"))
        assert "result" in status and not release.is_set()
        release.set()
        return await listing
    answer = asyncio.run(run())
    assert timed_out == [False] and answer["result"]["total"] == 2


def test_a_read_abandoned_by_its_call_ends_on_the_nodes_pool_before_the_pool_shuts_down(monkeypatch):
    """The node stops: aiohttp cancels a call still running, and the node then
    shuts its read pool down before closing the store. The cancelled call's
    read runs on that pool, so the shutdown waits for it (on the default
    executor it would still be reading while the store closed under it)."""
    scenario = Scenario()
    pools = ReadPools.start("node")
    table = build_method_table(scenario.node, batch_max=10, page_size_max=PAGE_SIZE_MAX, pools=pools)
    entered, release, events = threading.Event(), threading.Event(), []
    scan = queries.orders_list

    def slow_scan(*args, **kwargs):
        events.append(threading.current_thread().name)
        entered.set()
        release.wait(timeout=10)
        events.append("read ended")
        return scan(*args, **kwargs)
    monkeypatch.setattr(queries, "orders_list", slow_scan)

    async def abandon() -> None:
        call = asyncio.create_task(table.dispatch(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "orders_list"}).encode()))
        await eventually(entered.is_set, 5, "the scan started")
        call.cancel()
    asyncio.run(abandon())
    shutting = threading.Thread(target=lambda: (pools.shutdown(), events.append("pool shut down")))
    shutting.start()
    release.set()
    shutting.join(timeout=10)
    assert events[0].startswith("node-scans") and events[1:] == ["read ended", "pool shut down"]


def test_a_queue_of_scans_never_holds_a_getter(monkeypatch):
    """Three slow orders_list calls fill the scan pool and wait for it;
    order_get is answered meanwhile on the pool of reads."""
    scenario = Scenario()
    pools = ReadPools.start("node")
    table = build_method_table(scenario.node, batch_max=10, page_size_max=PAGE_SIZE_MAX, pools=pools)
    release = threading.Event()
    scan = queries.orders_list
    monkeypatch.setattr(queries, "orders_list", lambda *args, **kwargs: release.wait(timeout=10) and scan(*args, **kwargs))

    def request(method: str, params: dict) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()

    async def run() -> dict:
        scans = [asyncio.create_task(table.dispatch(request("orders_list", {}))) for _ in range(3)]
        try:
            return await asyncio.wait_for(table.dispatch(request("order_get", {"order": scenario.order})), timeout=5)
        finally:
            release.set()
            await asyncio.gather(*scans)
    try:
        assert asyncio.run(run())["result"]["order"] == scenario.order
    finally:
        pools.shutdown()
