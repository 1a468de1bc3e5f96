"""`shopchain tx`: signs locally with the node's chain id and next nonce,
submits, and reports the result; bodies from --body or per-field options."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chain.errors import CodedError
from chain.keys import save_key_file
from chain.transaction import decode_transaction
from cli.tx import body_from_options, parse_field_value
from tests.cli.fake_node import FakeNode
from tests.factories import seeded_key

SHOPCHAIN = str(Path(sys.executable).with_name("shopchain"))
CHAIN = "shopchain-cli"
ALICE = seeded_key("alice")


def fake_methods(submitted: list, ok: bool = True):
    async def chain_status():
        return {"chain_id": CHAIN, "height": 3}

    async def account_get(address):
        return {"address": address, "nonce": 6, "next_nonce": 7}

    async def tx_submit(tx, wait="mempool"):
        decoded = decode_transaction(bytes.fromhex(tx), CHAIN)
        submitted.append((decoded, wait))
        answer = {"id": decoded.id}
        if wait == "commit":
            answer.update(height=4, index=0, ok=ok, code="" if ok else "funds.insufficient",
                          message="" if ok else "balance 0 is below 100; top up first", events=[{"kind": "funds.transferred"}] if ok else [])
        return answer

    return {"chain_status": ([], chain_status), "account_get": (["address"], account_get), "tx_submit": (["tx", "wait"], tx_submit)}


@pytest.fixture
def key_file(tmp_path):
    save_key_file(tmp_path / "alice.json", ALICE)
    return str(tmp_path / "alice.json")


def run(*args):
    return subprocess.run([SHOPCHAIN, *args], capture_output=True, text=True, timeout=60)


def test_per_field_options_become_a_signed_body_with_the_next_nonce(key_file):
    submitted = []
    with FakeNode(fake_methods(submitted)) as node:
        result = run("tx", "funds.transfer", "--key", key_file, "--rpc", node.url, "--json",
                     "--to", seeded_key("bob").address, "--amount", "100", "--asset", "SHC")
    assert result.returncode == 0, result.stderr
    tx, wait = submitted[0]
    assert wait == "commit" and tx.nonce == 7 and tx.sender == ALICE.public_key
    assert tx.body == {"to": seeded_key("bob").address, "amount": 100, "asset": "SHC"}
    assert json.loads(result.stdout) == {"id": tx.id, "height": 4, "index": 0, "ok": True, "code": "", "message": "",
                                         "events": [{"kind": "funds.transferred"}]}


def test_body_json_with_hashes_in_hex(key_file):
    submitted = []
    body = {"merchant": seeded_key("m").address, "items": [{"sku": "tea", "qty": 2}], "shipping_hash": "ab" * 32}
    with FakeNode(fake_methods(submitted)) as node:
        result = run("tx", "order.create", "--key", key_file, "--rpc", node.url, "--wait", "mempool", "--body", json.dumps(body))
    assert result.returncode == 0, result.stderr
    tx, wait = submitted[0]
    assert wait == "mempool" and tx.body["shipping_hash"] == b"\xab" * 32 and tx.body["items"] == [{"sku": "tea", "qty": 2}]
    assert result.stdout.strip() == f"order.create {tx.id} submitted (mempool)"


def test_failed_result_prints_its_code_and_exits_1(key_file):
    with FakeNode(fake_methods([], ok=False)) as node:
        result = run("tx", "funds.transfer", "--key", key_file, "--rpc", node.url, "--to", "ab" * 32, "--amount", "100")
    assert result.returncode == 1
    assert "failed funds.insufficient: balance 0 is below 100; top up first" in result.stdout


def test_missing_key_file_is_a_coded_error(tmp_path):
    result = run("tx", "funds.transfer", "--key", str(tmp_path / "none.json"), "--amount", "1")
    assert result.returncode == 1 and result.stderr.startswith("key.missing: ")


@pytest.mark.parametrize("text, value", [
    ("100", 100), ("-5", -5), ("18446744073709551615", 2**64 - 1), ("tea-001", "tea-001"),
    ("1" * 64, "1" * 64), ("true", True), ('[{"sku": "a", "qty": 1}]', [{"sku": "a", "qty": 1}]), ('"007"', "007"),
])
def test_field_values(text, value):
    assert parse_field_value(text) == value


@pytest.mark.parametrize("body_json, extra", [
    ('{"a": 1}', ["--b", "2"]), ("[1]", []), ("{nope", []), (None, ["amount", "5"]), (None, ["--amount"]),
    (None, ["--shipping-hash", "abcd"]), (None, ["--items", "[1,"]),
])
def test_bad_bodies_are_coded_errors(body_json, extra):
    with pytest.raises(CodedError) as error:
        body_from_options(body_json, extra)
    assert error.value.code == "cli.bad_field"
