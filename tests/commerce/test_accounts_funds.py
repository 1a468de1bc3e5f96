import pytest

from commerce.queries import account_get, asset_get
from tests.commerce.harness import Chain, digest, make_key


@pytest.fixture
def chain() -> Chain:
    return Chain()


def test_register_grants_consumer_and_referrer(chain):
    agent = chain.register("agent", "agent")
    bob = chain.register("bob", referrer=agent.address)
    view = account_get(chain.store, bob.address)
    assert view["roles"] == ["consumer"] and view["referrer"] == agent.address
    assert view["nonce"] == 1 and view["next_nonce"] == 2


def test_register_errors(chain):
    bob = chain.register("bob")
    chain.fails(bob, "account.register", {"name": "bob"}, "account.exists")
    chain.fails(make_key("x"), "account.register", {"name": "x", "referrer": bob.address}, "account.bad_referrer")
    chain.fails(make_key("y"), "account.register", {}, "body.missing_field")
    chain.fails(make_key("y"), "account.register", {"name": "y", "extra": 1}, "body.unknown_field")
    chain.fails(make_key("y"), "account.register", {"name": 5}, "body.invalid")


def test_closed_registration_lets_only_admins_register_keys():
    chain = Chain(params={"open_registration": False})
    carol = make_key("carol")
    chain.fails(carol, "account.register", {"name": "carol"}, "auth.registration_closed")
    chain.ok(chain.admin, "account.register", {"name": "carol", "account": carol.address})
    assert account_get(chain.store, carol.address)["roles"] == ["consumer"]
    chain.fails(chain.admin, "account.register", {"name": "carol", "account": carol.address}, "account.exists")


def test_only_admins_register_other_keys():
    chain = Chain()
    bob = chain.register("bob")
    chain.fails(bob, "account.register", {"name": "dave", "account": make_key("dave").address}, "auth.forbidden")


def test_role_request_and_approval_errors(chain):
    bob = chain.register("bob")
    chain.fails(make_key("nobody"), "account.request_role", {"role": "merchant", "profile_hash": digest("p")}, "auth.not_registered")
    chain.fails(bob, "account.request_role", {"role": "admin", "profile_hash": digest("p")}, "account.bad_role")
    chain.fails(chain.admin, "account.approve", {"account": bob.address, "role": "merchant"}, "account.no_request")
    chain.ok(bob, "account.request_role", {"role": "merchant", "profile_hash": digest("p")})
    chain.fails(bob, "account.approve", {"account": bob.address, "role": "merchant"}, "auth.forbidden")
    chain.ok(chain.admin, "account.approve", {"account": bob.address, "role": "merchant"})
    chain.fails(bob, "account.request_role", {"role": "merchant", "profile_hash": digest("p")}, "account.has_role")
    assert account_get(chain.store, bob.address)["roles"] == ["consumer", "merchant"]


def test_suspend_and_reinstate(chain):
    bob = chain.register("bob")
    chain.fund(bob, 100)
    chain.ok(chain.admin, "account.suspend", {"account": bob.address, "reason": "fraud"})
    chain.fails(bob, "funds.transfer", {"to": chain.admin.address, "amount": 1}, "auth.suspended")
    chain.fails(chain.admin, "account.suspend", {"account": bob.address, "reason": "again"}, "account.suspended_already")
    chain.fails(chain.admin, "account.suspend", {"account": chain.admin.address, "reason": "x"}, "account.self_suspend")
    chain.ok(chain.admin, "account.reinstate", {"account": bob.address})
    chain.fails(chain.admin, "account.reinstate", {"account": bob.address}, "account.not_suspended")
    chain.ok(bob, "funds.transfer", {"to": chain.admin.address, "amount": 1})


def test_mint_burn_transfer(chain):
    bob = chain.register("bob")
    chain.fund(bob, 500)
    supply = asset_get(chain.store, "SHC")["supply"]
    chain.ok(bob, "funds.transfer", {"to": chain.treasury.address, "amount": 200, "asset": "SHC"})
    chain.ok(bob, "funds.burn", {"amount": 100})
    assert account_get(chain.store, bob.address)["balances"] == {"SHC": 200}
    assert asset_get(chain.store, "SHC")["supply"] == supply - 100
    chain.fails(bob, "funds.transfer", {"to": chain.admin.address, "amount": 201}, "funds.insufficient")
    chain.fails(bob, "funds.mint", {"to": bob.address, "amount": 1}, "auth.forbidden")
    chain.fails(bob, "funds.transfer", {"to": chain.admin.address, "amount": 1, "asset": "NOPE"}, "asset.unknown")
    chain.fails(bob, "funds.transfer", {"to": "zz", "amount": 1}, "body.invalid")
    chain.fails(chain.admin, "funds.mint", {"to": bob.address, "amount": 2**64 - 1}, "funds.overflow")


def test_asset_issue(chain):
    merchant = chain.register("shop", "merchant")
    chain.ok(merchant, "asset.issue", {"symbol": "WINE", "name": "Wine futures", "supply": 1000})
    assert account_get(chain.store, merchant.address)["balances"]["WINE"] == 1000
    chain.fails(merchant, "asset.issue", {"symbol": "WINE", "name": "again", "supply": 1}, "asset.exists")
    chain.fails(chain.register("bob"), "asset.issue", {"symbol": "X", "name": "x", "supply": 1}, "auth.forbidden")


def test_params_update(chain):
    chain.ok(chain.admin, "params.update", {"name": "fee_bps", "value": 300})
    chain.fails(chain.admin, "params.update", {"name": "nope", "value": 1}, "params.unknown")
    chain.fails(chain.admin, "params.update", {"name": "fee_bps", "value": 20_000}, "params.invalid")
    chain.fails(chain.admin, "params.update", {"name": "view_timeout_ms", "value": 600_001}, "params.invalid")
    chain.ok(chain.admin, "params.update", {"name": "view_timeout_ms", "value": 600_000})
    chain.fails(chain.register("bob"), "params.update", {"name": "fee_bps", "value": 1}, "auth.forbidden")
