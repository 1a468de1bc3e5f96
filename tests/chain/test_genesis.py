"""Genesis documents: parsing, hash stability, and every validation code."""
import json

import pytest

from chain.errors import GenesisError
from chain.genesis import DEFAULT_PARAMS, TIMING_CEILINGS_MS, parse_genesis
from tests.factories import seeded_key, validator_keys

VALIDATORS = [k.address for k in validator_keys(4)]
ADMIN = seeded_key("admin").address


def document(**changes):
    doc = {
        "chain_id": "shop-net.1", "genesis_time_ms": 1_767_225_600_000, "validators": VALIDATORS,
        "admins": [ADMIN], "treasury": ADMIN, "allocations": [{"address": ADMIN, "amount": 1000}],
        "params": {"fee_bps": 150},
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not DROP}


DROP = object()


def code(text):
    with pytest.raises(GenesisError) as caught:
        parse_genesis(text)
    return caught.value.code


def test_valid_document_parses():
    genesis = parse_genesis(json.dumps(document()))
    assert genesis.chain_id == "shop-net.1"
    assert [k.hex() for k in genesis.validators.keys] == VALIDATORS
    assert genesis.params == {**DEFAULT_PARAMS, "fee_bps": 150}
    assert genesis.allocations == ((ADMIN, 1000),)


def test_hash_ignores_whitespace_and_key_order_but_not_content():
    doc = document()
    base = parse_genesis(json.dumps(doc)).hash
    assert parse_genesis(json.dumps(doc, indent=4, sort_keys=True)).hash == base
    assert parse_genesis(json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":"))).hash == base
    assert parse_genesis(json.dumps(document(genesis_time_ms=1))).hash != base


@pytest.mark.parametrize("text, expected", [
    ("{", "genesis.malformed"),
    ("[]", "genesis.malformed"),
    (json.dumps(document()).replace("1767225600000", "1767225600000.0"), "genesis.invalid"),
    (json.dumps(document()).replace("1767225600000", "NaN"), "genesis.invalid"),
    (json.dumps(document(genesis_time_ms=None)), "genesis.invalid"),
    (json.dumps(document(params={"fee_bps": None})), "genesis.invalid"),
    (json.dumps(document(extra=1)), "genesis.unknown_field"),
    (json.dumps(document(params={"fee": 1})), "genesis.unknown_param"),
    (json.dumps(document(treasury=DROP)), "genesis.invalid"),
    (json.dumps(document(chain_id="bad chain")), "genesis.invalid"),
    (json.dumps(document(chain_id="")), "genesis.invalid"),
    (json.dumps(document(chain_id="x" * 65)), "genesis.invalid"),
    (json.dumps(document(validators=[])), "genesis.invalid"),
    (json.dumps(document(validators=[VALIDATORS[0].upper()])), "genesis.invalid"),
    (json.dumps(document(validators=[VALIDATORS[0][:-2]])), "genesis.invalid"),
    (json.dumps(document(validators=VALIDATORS + VALIDATORS[:1])), "genesis.invalid"),
    (json.dumps(document(admins=[ADMIN, ADMIN])), "genesis.invalid"),
    (json.dumps(document(treasury="00")), "genesis.invalid"),
    (json.dumps(document(allocations=[{"address": ADMIN, "amount": -1}])), "genesis.invalid"),
    (json.dumps(document(allocations=[{"address": ADMIN, "amount": True}])), "genesis.invalid"),
    (json.dumps(document(allocations=[{"address": ADMIN, "amount": 2**63}, {"address": ADMIN, "amount": 2**63}])), "genesis.invalid"),
    (json.dumps(document(allocations=[{"address": ADMIN}])), "genesis.invalid"),
    (json.dumps(document(genesis_time_ms=-1)), "genesis.invalid"),
    (json.dumps(document(params={"fee_bps": 10_001})), "genesis.invalid"),
    (json.dumps(document(params={"agent_bps": 10_001})), "genesis.invalid"),
    (json.dumps(document(params={"agent_bps": 5_000, "validator_bps": 5_001})), "genesis.invalid"),
    (json.dumps(document(params={"fee_bps": -1})), "genesis.invalid"),
    (json.dumps(document(params={"open_registration": 1})), "genesis.invalid"),
    (json.dumps(document(params={"block_txs_max": 0})), "genesis.invalid"),
    (json.dumps(document(params={"tx_bytes_max": 5 * 1024 * 1024})), "genesis.invalid"),
    (json.dumps(document(params={"view_timeout_ms": 3_999})), "genesis.view_timeout_too_short"),
])
def test_each_validation_error_has_its_code(text, expected):
    assert code(text) == expected


def test_view_timeout_floor_is_exactly_twice_interval_plus_budget():
    parse_genesis(json.dumps(document(params={"view_timeout_ms": 4_000})))
    parse_genesis(json.dumps(document(params={"agent_bps": 5_000, "validator_bps": 5_000, "fee_bps": 10_000})))


@pytest.mark.parametrize("name, ceiling_ms", sorted(TIMING_CEILINGS_MS.items()))
def test_a_timing_parameter_above_its_ceiling_is_refused(name, ceiling_ms):
    """A view timeout of days (seconds typed as milliseconds, say) applies at
    once: one crashed primary would stall the chain past any correction."""
    base = {"view_timeout_ms": 600_000} if name != "view_timeout_ms" else {}
    parse_genesis(json.dumps(document(params={**base, name: ceiling_ms})))
    with pytest.raises(GenesisError) as refused:
        parse_genesis(json.dumps(document(params={**base, name: ceiling_ms + 1})))
    assert refused.value.code == "genesis.invalid" and str(ceiling_ms) in refused.value.message
