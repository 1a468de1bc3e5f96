"""The state a genesis document starts the chain with: version 0 of the state tree."""
from __future__ import annotations

from chain.constants import NATIVE_ASSET
from chain.encoding import pack
from chain.genesis import Genesis
from chain.state_tree import STATE_TREE_RADIX_BITS, MemoryNodes, StateTree, TreeUpdate, state_changes
from commerce.accounts import new_account
from commerce.keys import account_key, asset_key, balance_key, holdings_key, meta_key, param_key


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
            writes[holdings_key(address)] = pack([NATIVE_ASSET])
    writes[asset_key(NATIVE_ASSET)] = pack({"name": "Shopchain native unit", "supply": sum(balances.values())})
    return writes


def compute_genesis_tree(genesis: Genesis) -> TreeUpdate:
    """Version 0 of the state tree: the genesis state."""
    changes = state_changes(compute_genesis_write_set(genesis))
    return StateTree(MemoryNodes(), STATE_TREE_RADIX_BITS).update(None, changes, 0)


def compute_genesis_state_root(genesis: Genesis) -> bytes:
    return compute_genesis_tree(genesis).root_hash
