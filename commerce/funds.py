"""Balances and assets: funds.mint, funds.burn, funds.transfer, asset.issue.

The total of each asset (balances plus order escrow) changes only by mint,
burn and issue; every other move debits one balance and credits another.
"""
from __future__ import annotations

from chain.constants import MAX_UINT64, NATIVE_ASSET
from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.accounts import require_admin, require_role
from commerce.body import address_field, amount_field, identifier_field, text_field
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.keys import asset_key, balance_key, holdings_key
from commerce.overlay import Overlay
from commerce.records import get_record, put_record


def get_balance(state: KeyValueReader, address: str, asset: str) -> int:
    value = get_record(state, balance_key(address, asset))
    return 0 if value is None else value


def get_holdings(state: KeyValueReader, address: str) -> list[str]:
    """The assets ``address`` holds a balance of, sorted."""
    return get_record(state, holdings_key(address)) or []


def _set_balance(state: Overlay, address: str, asset: str, before: int, amount: int) -> None:
    """A balance, and the holdings index when it starts or stops being held."""
    if amount == 0:
        state.delete(balance_key(address, asset))
    else:
        put_record(state, balance_key(address, asset), amount)
    if (before == 0) != (amount == 0):
        held = set(get_holdings(state, address)) ^ {asset}
        if held:
            put_record(state, holdings_key(address), sorted(held))
        else:
            state.delete(holdings_key(address))


def debit(state: Overlay, address: str, asset: str, amount: int) -> None:
    balance = get_balance(state, address, asset)
    # Verify the balance covers the amount
    if balance < amount:
        raise TxRejected("funds.insufficient", f"{address} holds {balance} {asset}, needs {amount}; top up first")
    _set_balance(state, address, asset, balance, balance - amount)


def credit(state: Overlay, address: str, asset: str, amount: int) -> None:
    balance = get_balance(state, address, asset)
    # Verify the balance stays within 64 bits
    if balance + amount > MAX_UINT64:
        raise TxRejected("funds.overflow", "the balance would exceed 2^64 - 1; move a smaller amount")
    _set_balance(state, address, asset, balance, balance + amount)


def move(state: Overlay, source: str, target: str, asset: str, amount: int) -> None:
    debit(state, source, asset, amount)
    credit(state, target, asset, amount)


def get_asset(state: KeyValueReader, symbol: str) -> dict | None:
    return get_record(state, asset_key(symbol))


def change_supply(state: Overlay, symbol: str, delta: int) -> None:
    asset = get_asset(state, symbol)
    asset["supply"] += delta
    put_record(state, asset_key(symbol), asset)


def asset_field(state: KeyValueReader, body: dict) -> str:
    symbol = identifier_field(body, "asset") if "asset" in body else NATIVE_ASSET
    # Verify the asset exists
    if get_asset(state, symbol) is None:
        raise TxRejected("asset.unknown", f"no asset {symbol!r}; check the symbol")
    return symbol


def process_funds_mint(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_admin(state, ctx.sender)
    target, amount = address_field(body, "to"), amount_field(body, "amount")
    # Verify the supply stays within 64 bits
    if get_asset(state, NATIVE_ASSET)["supply"] + amount > MAX_UINT64:
        raise TxRejected("funds.overflow", "the supply would exceed 2^64 - 1; mint less")
    credit(state, target, NATIVE_ASSET, amount)
    change_supply(state, NATIVE_ASSET, amount)
    ctx.emit("funds.minted", to=target, amount=amount, asset=NATIVE_ASSET)


def process_funds_burn(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    amount, symbol = amount_field(body, "amount"), asset_field(state, body)
    debit(state, ctx.sender, symbol, amount)
    change_supply(state, symbol, -amount)
    ctx.emit("funds.burned", account=ctx.sender, amount=amount, asset=symbol)


def process_funds_transfer(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    target, amount = address_field(body, "to"), amount_field(body, "amount")
    symbol = asset_field(state, body)
    move(state, ctx.sender, target, symbol, amount)
    ctx.emit("funds.transferred", source=ctx.sender, to=target, amount=amount, asset=symbol)


def process_asset_issue(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_role(state, ctx.sender, "merchant")
    symbol, name = identifier_field(body, "symbol"), text_field(body, "name")
    supply = amount_field(body, "supply")
    # Verify the symbol is not taken
    if get_asset(state, symbol) is not None:
        raise TxRejected("asset.exists", f"asset {symbol!r} already exists; choose another symbol")
    put_record(state, asset_key(symbol), {"issuer": ctx.sender, "name": name, "supply": supply})
    credit(state, ctx.sender, symbol, supply)
    ctx.emit("asset.issued", symbol=symbol, issuer=ctx.sender, supply=supply)
