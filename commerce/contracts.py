"""Multi-party contracts: contract.create, sign, cancel; settlement and expiry.

An asset's issuer offers ``units`` to each party at ``price_per_unit`` (in
the native asset). Once every party has signed, the contract executes itself
in the first block whose time reaches ``settle_at``: all or nothing — a party
short of funds (or the issuer short of units) fails it with a recorded
reason and nothing moves. A contract not fully signed expires at ``expires_at``.
"""
from __future__ import annotations

from typing import Any

from chain.constants import NATIVE_ASSET
from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.accounts import require_registered
from commerce.body import address_field, amount_field, hash_field, id_field, identifier_field, list_field
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.funds import get_asset, move
from commerce.keys import contract_key, timer_key
from commerce.overlay import Overlay
from commerce.records import get_param, get_record, put_record


def get_contract(state: KeyValueReader, contract_id: str) -> dict[str, Any] | None:
    return get_record(state, contract_key(contract_id))


def party_entry(entry: Any) -> dict[str, Any]:
    """One entry of contract.create's ``parties``, as the contract records it (unsigned)."""
    if not isinstance(entry, dict) or set(entry) != {"account", "units"}:
        raise TxRejected("body.invalid", "each party is {account, units}; fix the body")
    return {"account": address_field(entry, "account"), "units": amount_field(entry, "units"), "signed": False}


def _parties_field(state: KeyValueReader, body: dict[str, Any]) -> list[dict[str, Any]]:
    parties = [party_entry(entry) for entry in list_field(body, "parties", get_param(state, "list_length_max"))]
    # Verify no party is named twice
    if len({party["account"] for party in parties}) != len(parties):
        raise TxRejected("contract.duplicate_party", "a party is named twice; list each once")
    return parties


def process_contract_create(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    symbol = identifier_field(body, "asset")
    asset = get_asset(state, symbol)
    # Verify the asset exists
    if asset is None:
        raise TxRejected("asset.unknown", f"no asset {symbol!r}; issue it with asset.issue first")
    # Verify the sender issued the asset
    if asset.get("issuer") != ctx.sender:
        raise TxRejected("auth.forbidden", "only the issuer of the asset offers it by contract")
    parties = _parties_field(state, body)
    settle_at, expires_at = amount_field(body, "settle_at", minimum=0), amount_field(body, "expires_at", minimum=0)
    # Verify the contract can still be signed
    if expires_at <= ctx.block_time_ms:
        raise TxRejected("contract.bad_time", "expires_at must be in the future; fix the dates")
    contract = {"issuer": ctx.sender, "asset": symbol, "price_per_unit": amount_field(body, "price_per_unit", minimum=0),
                "parties": parties, "settle_at": settle_at, "expires_at": expires_at,
                "document_hash": hash_field(body, "document_hash"), "state": "open",
                "timer": timer_key(expires_at, "contract_expiry", ctx.tx_id)}
    state.put(contract["timer"], b"")
    put_record(state, contract_key(ctx.tx_id), contract)
    ctx.emit("contract.created", contract=ctx.tx_id, issuer=ctx.sender, asset=symbol)


def _require_open(state: KeyValueReader, body: dict[str, Any], now_ms: int) -> tuple[str, dict[str, Any]]:
    """An open contract before its expiry: past ``expires_at`` it is refused
    whether or not its expiry step has run (the per-block cap may delay it)."""
    contract_id = id_field(body, "contract")
    contract = get_contract(state, contract_id)
    # Verify the contract exists and is open for signatures
    if contract is None:
        raise TxRejected("contract.unknown", f"no contract {contract_id}; check the id")
    if contract["state"] != "open":
        raise TxRejected("contract.not_open", f"the contract is {contract['state']}; it takes no more steps")
    if now_ms >= contract["expires_at"]:
        raise TxRejected("contract.not_open",
                         f"the contract expired at {contract['expires_at']} ms; it takes no more steps")
    return contract_id, contract


def process_contract_sign(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    require_registered(state, ctx.sender)
    contract_id, contract = _require_open(state, tx.body, ctx.block_time_ms)
    party = next((party for party in contract["parties"] if party["account"] == ctx.sender), None)
    # Verify the sender is a party that has not signed
    if party is None:
        raise TxRejected("auth.forbidden", "you are not a party to this contract")
    if party["signed"]:
        raise TxRejected("contract.signed_already", "you already signed this contract")
    party["signed"] = True
    if all(entry["signed"] for entry in contract["parties"]):
        state.delete(contract["timer"])
        contract["state"] = "signed"
        contract["timer"] = timer_key(max(contract["settle_at"], ctx.block_time_ms), "contract_settle", contract_id)
        state.put(contract["timer"], b"")
    put_record(state, contract_key(contract_id), contract)
    ctx.emit("contract.signed", contract=contract_id, party=ctx.sender)


def process_contract_cancel(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    contract_id, contract = _require_open(state, tx.body, ctx.block_time_ms)
    # Verify the sender is the issuer
    if contract["issuer"] != ctx.sender:
        raise TxRejected("auth.forbidden", "only the issuer cancels a contract")
    state.delete(contract.pop("timer"))
    put_record(state, contract_key(contract_id), {**contract, "state": "cancelled"})
    ctx.emit("contract.cancelled", contract=contract_id)


def process_contract_expiry(state: Overlay, ctx: Context, contract_id: str) -> None:
    contract = get_contract(state, contract_id)
    del contract["timer"]
    put_record(state, contract_key(contract_id), {**contract, "state": "expired"})
    ctx.emit("contract.expired", contract=contract_id)


def process_contract_settlement(state: Overlay, ctx: Context, contract_id: str) -> None:
    """All or nothing: the moves run in a child overlay merged only if every one succeeds."""
    contract = get_contract(state, contract_id)
    del contract["timer"]
    moves = state.child()
    try:
        for party in contract["parties"]:
            move(moves, party["account"], contract["issuer"], NATIVE_ASSET, party["units"] * contract["price_per_unit"])
            move(moves, contract["issuer"], party["account"], contract["asset"], party["units"])
    except TxRejected as error:
        put_record(state, contract_key(contract_id), {**contract, "state": "failed", "reason": f"{error.code}: {error.message}"})
        ctx.emit("contract.failed", contract=contract_id, code=error.code)
        return
    moves.merge_into(state)
    put_record(state, contract_key(contract_id), {**contract, "state": "executed", "executed_ms": ctx.block_time_ms})
    ctx.emit("contract.executed", contract=contract_id)
