from commerce.genesis_state import compute_genesis_state_root, compute_genesis_write_set
from commerce.queries import account_get, asset_get
from commerce.records import get_meta, get_param
from tests.chain.state_tree_reference import state_root_of
from tests.commerce.harness import Chain


def test_genesis_state_holds_admins_treasury_validators_allocations_and_params():
    chain = Chain(params={"fee_bps": 150}, validators=3)
    assert get_meta(chain.store, "treasury") == chain.treasury.address
    assert get_meta(chain.store, "validators") == [key.address for key in chain.validators]
    assert account_get(chain.store, chain.admin.address)["balances"] == {"SHC": 10**12}
    assert asset_get(chain.store, "SHC")["supply"] == 10**12
    assert get_param(chain.store, "fee_bps") == 150
    write_set = compute_genesis_write_set(chain.genesis)
    assert compute_genesis_state_root(chain.genesis) == state_root_of((k, v) for k, v in write_set.items() if v is not None)
    assert compute_genesis_state_root(Chain(params={"fee_bps": 151}, validators=3).genesis) != compute_genesis_state_root(chain.genesis)
