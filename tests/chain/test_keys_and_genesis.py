"""Key files and the genesis document: round trips and every refusal."""
import json
import os
import stat

import pytest

from chain.errors import GenesisError, KeyFileError
from chain.genesis import DEFAULT_PARAMS, parse_genesis
from chain.keys import KeyPair, is_address, load_key_file, parse_key_document, save_key_file
from tests.factories import seeded_key


def test_key_file_round_trip_with_mode_0600(tmp_path):
    key = KeyPair.generate()
    save_key_file(tmp_path / "k.json", key)
    assert stat.S_IMODE(os.stat(tmp_path / "k.json").st_mode) == 0o600
    loaded = load_key_file(tmp_path / "k.json")
    assert loaded.public_key == key.public_key and loaded.seed == key.seed
    assert is_address(loaded.address) and loaded.address == key.public_key.hex()


def key_error(call) -> str:
    with pytest.raises(KeyFileError) as error:
        call()
    return error.value.code


def test_key_file_errors(tmp_path):
    assert key_error(lambda: load_key_file(tmp_path / "absent.json")) == "key.missing"
    assert key_error(lambda: load_key_file(tmp_path)) == "key.unreadable"
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe")
    assert key_error(lambda: load_key_file(tmp_path / "latin1.json")) == "key.unreadable"
    save_key_file(tmp_path / "k.json", seeded_key("a"))
    assert key_error(lambda: save_key_file(tmp_path / "k.json", seeded_key("b"))) == "key.exists"
    assert key_error(lambda: save_key_file(tmp_path / "no" / "dir" / "k.json", seeded_key("b"))) == "key.unwritable"


GOOD = {"public_key": seeded_key("a").address, "seed": seeded_key("a").seed.hex()}


@pytest.mark.parametrize("document", [
    "not json",
    "[]",
    json.dumps({"public_key": GOOD["public_key"]}),
    json.dumps({**GOOD, "seed": "zz" * 32}),
    json.dumps({**GOOD, "seed": "ab" * 31}),
    json.dumps({**GOOD, "seed": GOOD["seed"].upper()}),
    json.dumps({**GOOD, "public_key": seeded_key("b").address}),
    json.dumps({"seed": GOOD["seed"]}),
])
def test_malformed_key_documents(document):
    assert key_error(lambda: parse_key_document(document)) == "key.malformed"


def genesis(**changes) -> dict:
    document = {
        "chain_id": "shop-1",
        "genesis_time_ms": 1767225600000,
        "validators": [seeded_key(f"v{i}").address for i in range(4)],
        "admins": [seeded_key("admin").address],
        "treasury": seeded_key("treasury").address,
        "allocations": [{"address": seeded_key("admin").address, "amount": 10**18}],
        "params": {"fee_bps": 150},
    }
    document.update(changes)
    return document


def test_valid_genesis_fills_default_params():
    parsed = parse_genesis(json.dumps(genesis()))
    assert parsed.params == {**DEFAULT_PARAMS, "fee_bps": 150}
    assert len(parsed.validators) == 4 and parsed.allocations[0][1] == 10**18


def test_genesis_hash_ignores_whitespace_and_key_order():
    document = genesis()
    compact = json.dumps(document, separators=(",", ":"))
    spaced = json.dumps(dict(reversed(list(document.items()))), indent=4)
    assert parse_genesis(compact).hash == parse_genesis(spaced).hash
    assert parse_genesis(json.dumps(genesis(chain_id="shop-2"))).hash != parse_genesis(compact).hash


def genesis_code(text: str) -> str:
    with pytest.raises(GenesisError) as error:
        parse_genesis(text)
    return error.value.code


@pytest.mark.parametrize("text, code", [
    ("{", "genesis.malformed"),
    ("[]", "genesis.malformed"),
    (json.dumps(genesis(extra=1)), "genesis.unknown_field"),
    (json.dumps({k: v for k, v in genesis().items() if k != "treasury"}), "genesis.invalid"),
    (json.dumps(genesis(genesis_time_ms=1.5)), "genesis.invalid"),
    (json.dumps(genesis(genesis_time_ms=None)), "genesis.invalid"),
    (json.dumps(genesis(chain_id="has space")), "genesis.invalid"),
    (json.dumps(genesis(validators=[])), "genesis.invalid"),
    (json.dumps(genesis(validators=["AB" * 32])), "genesis.invalid"),
    (json.dumps(genesis(validators=[seeded_key("v").address] * 2)), "genesis.invalid"),
    (json.dumps(genesis(treasury="nope")), "genesis.invalid"),
    (json.dumps(genesis(allocations=[{"address": seeded_key("a").address, "amount": -1}])), "genesis.invalid"),
    (json.dumps(genesis(allocations=[{"address": seeded_key("a").address, "amount": 2**64}] * 2)), "genesis.invalid"),
    (json.dumps(genesis(params={"fee_bps": 10_001})), "genesis.invalid"),
    (json.dumps(genesis(params={"agent_bps": 6000, "validator_bps": 5000})), "genesis.invalid"),
    (json.dumps(genesis(params={"open_registration": 1})), "genesis.invalid"),
    (json.dumps(genesis(params={"fee_bps": True})), "genesis.invalid"),
    (json.dumps(genesis(params={"feebps": 1})), "genesis.unknown_param"),
    (json.dumps(genesis(params={"view_timeout_ms": 3999})), "genesis.view_timeout_too_short"),
    (json.dumps(genesis(params={"tx_bytes_max": 10, "block_bytes_max": 5})), "genesis.invalid"),
])
def test_genesis_refusals(text, code):
    assert genesis_code(text) == code
