import pytest

from commerce.queries import account_get, contract_get
from tests.commerce.harness import DAY_MS, Chain, digest

PRICE = 100


class Deal:
    def __init__(self, params=None) -> None:
        self.chain = Chain(params=params)
        self.issuer = self.chain.register("winery", "merchant")
        self.chain.ok(self.issuer, "asset.issue", {"symbol": "WINE", "name": "Wine futures", "supply": 1_000})
        self.parties = [self.chain.register(name) for name in ("p1", "p2", "p3")]
        for party in self.parties:
            self.chain.fund(party, 10 * PRICE)

    def create(self, settle_in_ms: int = DAY_MS, expire_in_ms: int = 2 * DAY_MS, units=(3, 5, 10)) -> str:
        body = {"asset": "WINE", "price_per_unit": PRICE, "settle_at": self.chain.time_ms + settle_in_ms,
                "expires_at": self.chain.time_ms + expire_in_ms, "document_hash": digest("terms"),
                "parties": [{"account": party.address, "units": n} for party, n in zip(self.parties, units)]}
        return self.chain.ok(self.issuer, "contract.create", body).id

    def sign_all(self, contract_id: str) -> None:
        for party in self.parties:
            self.chain.ok(party, "contract.sign", {"contract": contract_id})

    def balances(self, key) -> dict:
        return account_get(self.chain.store, key.address)["balances"]


def test_three_party_contract_executes_itself_at_settle_at():
    deal = Deal()
    contract_id = deal.create(units=(3, 5, 9))
    deal.sign_all(contract_id)
    assert contract_get(deal.chain.store, contract_id)["state"] == "signed"
    execution = deal.chain.block([], advance_ms=DAY_MS)
    assert [event["kind"] for event in execution.step_events] == ["contract.executed"]
    assert contract_get(deal.chain.store, contract_id)["state"] == "executed"
    assert [deal.balances(party) for party in deal.parties] == [
        {"SHC": 700, "WINE": 3}, {"SHC": 500, "WINE": 5}, {"SHC": 100, "WINE": 9}]
    assert deal.balances(deal.issuer) == {"SHC": 1_700, "WINE": 983}


def test_a_party_short_of_funds_fails_the_contract_and_nothing_moves():
    deal = Deal()
    contract_id = deal.create(units=(3, 5, 11))
    deal.sign_all(contract_id)
    before = [deal.balances(key) for key in deal.parties + [deal.issuer]]
    execution = deal.chain.block([], advance_ms=DAY_MS)
    view = contract_get(deal.chain.store, contract_id)
    assert view["state"] == "failed" and view["reason"].startswith("funds.insufficient")
    assert execution.step_events[0]["kind"] == "contract.failed"
    assert [deal.balances(key) for key in deal.parties + [deal.issuer]] == before


def test_unsigned_contract_expires_and_signing_errors():
    deal = Deal()
    contract_id = deal.create()
    deal.chain.ok(deal.parties[0], "contract.sign", {"contract": contract_id})
    deal.chain.fails(deal.parties[0], "contract.sign", {"contract": contract_id}, "contract.signed_already")
    deal.chain.fails(deal.issuer, "contract.sign", {"contract": contract_id}, "auth.forbidden")
    deal.chain.fails(deal.issuer, "contract.sign", {"contract": "ab" * 32}, "contract.unknown")
    deal.chain.block([], advance_ms=2 * DAY_MS)
    assert contract_get(deal.chain.store, contract_id)["state"] == "expired"
    deal.chain.fails(deal.parties[1], "contract.sign", {"contract": contract_id}, "contract.not_open")


def test_cancel_and_create_errors():
    deal = Deal()
    contract_id = deal.create()
    deal.chain.fails(deal.parties[0], "contract.cancel", {"contract": contract_id}, "auth.forbidden")
    deal.chain.ok(deal.issuer, "contract.cancel", {"contract": contract_id})
    assert contract_get(deal.chain.store, contract_id)["state"] == "cancelled"
    deal.chain.block([], advance_ms=3 * DAY_MS)
    assert contract_get(deal.chain.store, contract_id)["state"] == "cancelled"
    deal.chain.fails(deal.issuer, "contract.create", {"asset": "WINE", "price_per_unit": 1, "settle_at": 0, "expires_at": 1,
                                                      "document_hash": digest("t"), "parties": [{"account": deal.issuer.address, "units": 1}]},
                     "contract.bad_time")
    party = {"account": deal.parties[0].address, "units": 1}
    deal.chain.fails(deal.issuer, "contract.create", {"asset": "WINE", "price_per_unit": 1, "settle_at": 0, "expires_at": 2**40,
                                                      "document_hash": digest("t"), "parties": [party, party]}, "contract.duplicate_party")
    deal.chain.fails(deal.parties[0], "contract.create", {"asset": "WINE", "price_per_unit": 1, "settle_at": 0, "expires_at": 2**40,
                                                          "document_hash": digest("t"), "parties": [party]}, "auth.forbidden")
    deal.chain.fails(deal.issuer, "contract.create", {"asset": "BEER", "price_per_unit": 1, "settle_at": 0, "expires_at": 2**40,
                                                      "document_hash": digest("t"), "parties": [party]}, "asset.unknown")


@pytest.mark.parametrize("late_ms", [0, DAY_MS // 2])
def test_signed_after_settle_at_executes_in_the_next_block(late_ms):
    deal = Deal()
    contract_id = deal.create(settle_in_ms=1, expire_in_ms=3 * DAY_MS)
    deal.chain.block([], advance_ms=late_ms)
    deal.sign_all(contract_id)
    deal.chain.block([])
    assert contract_get(deal.chain.store, contract_id)["state"] == "executed"


def test_a_contract_past_expires_at_takes_no_signature_while_its_expiry_waits():
    """With one timed step a block, the second contract's expiry is due but
    waits behind the first: its last signature is refused all the same."""
    deal = Deal(params={"timed_steps_per_block_max": 1})
    first, second = deal.create(), deal.create()
    for party in deal.parties[:2]:
        deal.chain.ok(party, "contract.sign", {"contract": second})
    result, _ = deal.chain.run(deal.parties[2], "contract.sign", {"contract": second}, advance_ms=2 * DAY_MS)
    assert (result.ok, result.code) == (False, "contract.not_open") and "expired at" in result.message
    assert contract_get(deal.chain.store, first)["state"] == "expired"
    assert contract_get(deal.chain.store, second)["state"] == "open"
    deal.chain.fails(deal.issuer, "contract.cancel", {"contract": second}, "contract.not_open")
    assert contract_get(deal.chain.store, second)["state"] == "expired"
