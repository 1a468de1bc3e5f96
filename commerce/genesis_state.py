"""The state a genesis document starts the chain with, and its root."""
from __future__ import annotations

from chain.constants import NATIVE_ASSET
from chain.encoding import pack
from chain.genesis import Genesis
from chain.state_root import GENESIS_PREDECESSOR, next_state_root
from commerce.accounts import new_account
from commerce.keys import account_key, asset_key, balance_key, meta_key, param_key


def compute_genesis_write_set(genesis: Genesis) -> dict[bytes, bytes | None]:
    writes: dict[bytes, bytes | None] = {
        meta_key("chain_id"): pack(genesis.chain_id),
        meta_key("treasury"): pack(genesis.treasury),
        meta_key("admins"): pack(list(genesis.admins)),
        meta_key("validators"): pack([key.hex() for key in genesis.validators.keys]),
        meta_key("time_ms"): pack(genesis.genesis_time_ms),
    }
    for name in sorted(genesis.params):
        writes[param_key(name)] = pack(genesis.params[name])
    for admin in genesis.admins:
        writes[account_key(admin)] = pack(new_account("admin", ["admin", "consumer"]))
    balances: dict[str, int] = {}
    for address, amount in genesis.allocations:
        balances[address] = balances.get(address, 0) + amount
    for address in sorted(balances):
        if balances[address]:
            writes[balance_key(address, NATIVE_ASSET)] = pack(balances[address])
    writes[asset_key(NATIVE_ASSET)] = pack({"name": "Shopchain native unit", "supply": sum(balances.values())})
    return writes


def compute_genesis_state_root(genesis: Genesis) -> bytes:
    return next_state_root(GENESIS_PREDECESSOR, compute_genesis_write_set(genesis))
