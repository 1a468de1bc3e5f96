"""state_proof over the JSON-RPC table of a real application, checked by the
light client (chain/light.py) from the genesis alone; and a lying node: any
one thing altered in the answer (a value, a proof byte, the header's
state_root, a signature, the height, the keys) fails verification."""
from __future__ import annotations

import asyncio
import copy
import json

import pytest

from chain.encoding import pack
from chain.errors import CodedError
from chain.genesis import genesis_from_document
from chain.light import Trust, VerifyFailed, verify_state, verify_transaction
from commerce import queries
from commerce.keys import account_key, balance_key
from commerce.proven import verify_getter_answer
from node.client import ShopchainClient
from chain.light import STATE_PROOF_KEYS_MAX
from tests.factories import seeded_key, validator_keys
from tests.node.test_rpc_methods import ADMIN, BOB, GENESIS, GHOST, SHOP, Scenario, app_error_code, error, result

TRUST = Trust.from_genesis(GENESIS)


@pytest.fixture(scope="module")
def chain() -> Scenario:
    return Scenario()


def keys_of(chain: Scenario) -> list[bytes]:
    return [balance_key(BOB.address, "SHC"), account_key(SHOP.address), account_key(GHOST.address),
            balance_key(ADMIN.address, "SHC")]


def ask(chain: Scenario, keys: list[bytes], height: int | None = None) -> dict:
    params = {"keys": [key.hex() for key in keys]}
    if height is not None:
        params["height"] = height
    return result(chain.table, "state_proof", params)


def test_values_and_absences_verify_from_the_genesis_alone_at_every_kept_height(chain):
    keys = keys_of(chain)
    state = chain.node.store.state()
    values, verified = verify_state(TRUST, ask(chain, keys), keys)
    assert values == {key: state.get(key) for key in keys}
    assert values[account_key(GHOST.address)] is None and values[balance_key(BOB.address, "SHC")] is not None
    assert verified.height == chain.node.store.last_height() and (verified.signers, verified.validators) == (3, 4)
    earlier, verified = verify_state(TRUST, ask(chain, keys, height=1), keys)
    assert verified.height == 1 and earlier[balance_key(BOB.address, "SHC")] is None    # minted at height 2
    assert verify_state(TRUST, ask(chain, keys, height=2), keys)[0][balance_key(BOB.address, "SHC")] == pack(1_000_000)


def _tampered(answer: dict, change) -> dict:
    lied = copy.deepcopy(answer)
    change(lied)
    return lied


def _flip(text: str, position: int) -> str:
    raw = bytearray(bytes.fromhex(text))
    raw[position % len(raw)] ^= 0x01
    return raw.hex()


LIES = {
    "a value": lambda a: a["proofs"][0].update(value=pack(999_999_999).hex()),
    "a present value said absent": lambda a: a["proofs"][0].update(value=None),
    "an absent value said present": lambda a: a["proofs"][2].update(value=pack(1).hex()),
    "a proof byte": lambda a: a["proofs"][1].update(proof=_flip(a["proofs"][1]["proof"], 40)),
    "the header's state_root": lambda a: a.update(header_bytes=a["header_bytes"].replace(
        a["header"]["state_root"], _flip(a["header"]["state_root"], 0))),
    "a signature": lambda a: a.update(certificate_bytes=_flip(a["certificate_bytes"], -5)),
    "the height": lambda a: a.update(height=a["height"] - 1),
    "another key's proof": lambda a: a["proofs"][0].update(key=a["proofs"][3]["key"]),
    "a key dropped": lambda a: a["proofs"].pop(),
    "garbage": lambda a: a.update(proofs="no"),
}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_a_node_that_alters_any_one_thing_fails_verification(chain, lie):
    keys = keys_of(chain)
    answer = ask(chain, keys)
    verify_state(TRUST, answer, keys)
    with pytest.raises(VerifyFailed) as failed:
        verify_state(TRUST, _tampered(answer, LIES[lie]), keys)
    assert failed.value.code == "verify.failed"


def test_another_chain_or_validator_set_fails_closed(chain):
    keys = keys_of(chain)
    answer = ask(chain, keys)
    other = genesis_from_document({**GENESIS.document, "validators": [key.address for key in validator_keys(5)]})
    with pytest.raises(VerifyFailed, match="validator set"):
        verify_state(Trust.from_genesis(other), answer, keys)
    with pytest.raises(VerifyFailed):
        Trust.from_genesis(GENESIS, expected_hash=seeded_key("x").public_key)


def test_bad_requests_get_clear_errors(chain):
    top = chain.node.store.last_height()
    assert app_error_code(chain.table, "state_proof", {"keys": ["00"], "height": top + 1}) == "state.unknown_height"
    for keys in ([], ["zz"], ["0"], ["00"] * (STATE_PROOF_KEYS_MAX + 1)):
        assert error(chain.table, "state_proof", {"keys": keys})["code"] == -32602


def test_a_height_outside_the_proof_window_answers_state_pruned(chain):
    window = chain.node.store.proof_window_blocks
    chain.node.store.proof_window_blocks = 1
    try:
        chain.node.send(ADMIN, "funds.transfer", {"to": BOB.address, "amount": 1})
        chain.node.commit_next()
        top = chain.node.store.last_height()
        assert app_error_code(chain.table, "state_proof", {"keys": ["00"], "height": top - 1}) == "state.pruned"
        verify_state(TRUST, ask(chain, [b"\x00"], top), [b"\x00"])
    finally:
        chain.node.store.proof_window_blocks = window


class TableClient(ShopchainClient):
    """The Python client over the method table itself (no sockets), with a
    ``lie`` applied to every state_proof answer."""

    def __init__(self, table, lie=None) -> None:
        self.table, self.lie, self.calls = table, lie, 0

    async def call(self, method: str, **params):
        self.calls += 1
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = json.loads(json.dumps((await self.table.dispatch(json.dumps(body).encode()))["result"]))
        return self.lie(answer) or answer if self.lie else answer


def test_getters_rebuilt_from_proofs_equal_the_nodes_own_answers(chain):
    state = chain.node.store.state()
    client = TableClient(chain.table)
    for getter, object_id in ((queries.coupon_batch_get, chain.batch), (queries.trace_get, chain.lot),
                              (queries.order_get, chain.order), (queries.contract_get, chain.contract),
                              (queries.product_get, f"{SHOP.address}/tea")):
        found, verified = asyncio.run(client.verify_query(TRUST, lambda proven: getter(proven, object_id)))
        assert found == getter(state, object_id) and found is not None, getter.__name__
        assert verified.height == chain.node.store.last_height()
    found, _ = asyncio.run(client.verify_query(TRUST, lambda proven: queries.order_get(proven, "cd" * 32)))
    assert found is None


def test_a_node_that_hides_a_trace_event_or_lies_about_a_count_is_caught(chain):
    def hide_events(answer):
        for item in answer["proofs"]:
            if bytes.fromhex(item["key"]).startswith(b"U"):
                item["value"] = None                      # "no such event"
    for lie in (hide_events, LIES["a value"]):
        with pytest.raises(VerifyFailed):
            asyncio.run(TableClient(chain.table, lie).verify_query(TRUST, lambda proven: queries.trace_get(proven, chain.lot)))


def test_a_getter_that_scans_a_range_is_refused_not_trusted(chain):
    with pytest.raises(CodedError) as refused:
        asyncio.run(TableClient(chain.table).verify_query(TRUST, lambda proven: queries.orders_list(proven, buyer=BOB.address)))
    assert refused.value.code == "verify.unprovable"


def test_an_accounts_balances_are_proven_complete_by_its_holdings(chain):
    state = chain.node.store.state()
    found, _ = asyncio.run(TableClient(chain.table).verify_query(TRUST, lambda proven: queries.account_get(proven, SHOP.address)))
    assert found == queries.account_get(state, SHOP.address) and set(found["balances"]) == {"SHC", "WINE"}

    def hide_a_holding(answer):
        for item in answer["proofs"]:
            if bytes.fromhex(item["key"]).startswith(b"h") and item["value"] is not None:
                item["value"] = pack(["SHC"]).hex()          # "it holds SHC only"
    with pytest.raises(VerifyFailed):
        asyncio.run(TableClient(chain.table, hide_a_holding).verify_query(
            TRUST, lambda proven: queries.account_get(proven, SHOP.address)))


def _getters(chain):
    return [("account_get", "address", BOB.address, queries.account_get),
            ("coupon_batch_get", "batch", chain.batch, queries.coupon_batch_get),
            ("coupon_get", "coupon", f"{chain.batch}/1", queries.coupon_get),
            ("product_get", "product", f"{SHOP.address}/tea", queries.product_get),
            ("order_get", "order", chain.order, queries.order_get),
            ("trace_get", "subject", chain.lot, queries.trace_get),
            ("contract_get", "contract", chain.contract, queries.contract_get),
            ("asset_get", "symbol", "WINE", queries.asset_get)]


def test_every_getter_with_prove_answers_what_a_light_client_rebuilds_from_the_proofs(chain):
    for method, param, object_id, getter in _getters(chain):
        answer = result(chain.table, method, {param: object_id, "prove": True})
        rebuilt, verified = verify_getter_answer(TRUST, answer, lambda proven: getter(proven, object_id))
        read_at = {"height", "block_time_ms", "header", "header_bytes", "certificate", "certificate_bytes", "proofs"}
        assert queries.to_json(rebuilt) == {k: v for k, v in answer.items() if k not in read_at}, method
        assert answer["height"] == verified.height == chain.node.store.last_height()
        assert answer["block_time_ms"] == verified.header.time_ms
        plain = result(chain.table, method, {param: object_id})
        assert "proofs" not in plain and plain["height"] == answer["height"], method


def test_a_getter_answer_missing_a_proof_or_proving_more_fails(chain):
    answer = result(chain.table, "trace_get", {"subject": chain.lot, "prove": True})
    trace = lambda proven: queries.trace_get(proven, chain.lot)     # noqa: E731
    dropped = _tampered(answer, lambda a: a["proofs"].pop())
    with pytest.raises(VerifyFailed, match="does not prove"):
        verify_getter_answer(TRUST, dropped, trace)
    with pytest.raises(VerifyFailed, match="does not need"):
        verify_getter_answer(TRUST, answer, lambda proven: proven.get(bytes.fromhex(answer["proofs"][0]["key"])))


TX_LIES = {
    "a path node": lambda a: a["tx_proof"]["path"].__setitem__(0, _flip(a["tx_proof"]["path"][0], 3)),
    "the result's ok": lambda a: a.update(result_leaf=pack([True, "", []]).hex()),
    "the index": lambda a: (a["tx_proof"].update(index=a["tx_proof"]["index"] ^ 1),
                            a["result_proof"].update(index=a["result_proof"]["index"] ^ 1)),
    "the header": lambda a: a.update(header_bytes=_flip(a["header_bytes"], 60)),
    "garbage": lambda a: a.update(tx_proof=None),
}


def test_a_transaction_and_its_result_verify_and_any_alteration_fails(chain):
    for tx in chain.block4.txs:
        answer = result(chain.table, "proof_tx", {"id": tx.id})
        proven, verified = verify_transaction(TRUST, answer, tx.id)
        index = proven.index
        expected = chain.block4.execution.results[index]
        assert (proven.tx, proven.height, proven.ok, proven.code) == (tx, 4, expected.ok, expected.code)
        assert list(proven.events) == list(expected.events) and verified.height == 4
    answer = result(chain.table, "proof_tx", {"id": chain.failed})
    assert not verify_transaction(TRUST, answer, chain.failed)[0].ok
    with pytest.raises(VerifyFailed):
        verify_transaction(TRUST, answer, chain.order)                # another id than the bytes'
    for name, lie in TX_LIES.items():
        with pytest.raises(VerifyFailed):
            verify_transaction(TRUST, _tampered(answer, lie), chain.failed)


def test_lists_say_at_which_height_they_were_read(chain):
    top = chain.node.store.last_height()
    for method in ("orders_list", "products_list", "coupons_list"):
        page = result(chain.table, method, {})
        assert page["height"] == top and page["block_time_ms"] == chain.node.store.block_by_height(top).header.time_ms


class HeightLyingClient(TableClient):
    """Answers every state_proof call after the first at ``height`` instead of
    the height asked for (None: at the last committed height)."""

    def __init__(self, table, height) -> None:
        super().__init__(table)
        self.height = height

    async def call(self, method: str, **params):
        if method == "state_proof" and self.calls:
            params = {key: value for key, value in params.items() if key != "height"}
            if self.height is not None:
                params["height"] = self.height
        return await super().call(method, **params)


def test_a_node_that_answers_another_height_than_asked_is_caught():
    """Each round of a query is pinned to the first answer's height, or to the
    height asked for: a node may not mix in state of another height."""
    chain = Scenario()          # its own: another test here prunes the module's older heights
    top = chain.node.store.last_height()
    mixing = HeightLyingClient(chain.table, top - 1)
    with pytest.raises(VerifyFailed, match=f"not height {top}"):
        asyncio.run(mixing.verify_query(TRUST, lambda proven: queries.order_get(proven, chain.order)))
    ignoring = HeightLyingClient(chain.table, None)
    ignoring.calls = 1              # from the first call on, the height asked for is dropped
    with pytest.raises(VerifyFailed, match="not height 4"):
        asyncio.run(ignoring.verify_query(TRUST, lambda proven: queries.order_get(proven, chain.order), height=4))
    keys = keys_of(chain)
    with pytest.raises(VerifyFailed, match="not height 2"):
        verify_state(TRUST, ask(chain, keys), keys, height=2)
    found, verified = asyncio.run(TableClient(chain.table).verify_query(
        TRUST, lambda proven: queries.order_get(proven, chain.order), height=4))
    assert verified.height == 4 and found == queries.order_get(chain.node.store.state(), chain.order)    # unchanged since 4


def test_a_key_asked_twice_is_proven_once():
    keys = [balance_key(BOB.address, "SHC")] * 2
    scenario = Scenario()
    answer = ask(scenario, keys)
    assert len(answer["proofs"]) == 1
    assert verify_state(TRUST, answer, keys)[0][keys[0]] == scenario.node.store.state().get(keys[0])


def test_a_trace_of_many_events_verifies_in_a_few_rounds():
    """Each round proves every key the getter reached, 64 a call: a trace of
    300 events takes three rounds, not one per event."""
    scenario = Scenario()
    for index in range(300):
        scenario.node.send(SHOP, "trace.record", {"subject": scenario.lot, "stage": "transit", "location": f"hub {index}",
                                                  "handler": "post", "data_hash": bytes(32)})
        if index % 100 == 99:
            scenario.node.commit_next()
    client = TableClient(scenario.table)
    found, _ = asyncio.run(client.verify_query(TRUST, lambda proven: queries.trace_get(proven, scenario.lot)))
    assert found == queries.trace_get(scenario.node.store.state(), scenario.lot) and len(found["events"]) == 301
    assert client.calls == 1 + 1 + 5          # the block time, the trace's count, its 301 events in calls of 64
