"""Replay the pre/transaction/post vectors of tests/vectors/commerce.json."""
import json

import pytest

from chain.transaction import parse_transaction
from commerce.executor import execute_block
from storage.memory import MemoryStore
from tests.vectors.commerce_vectors import PATH, SCENARIOS, build_vector

VECTORS = json.loads(PATH.read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda vector: vector["name"])
def test_vector_replays(vector):
    store = MemoryStore()
    for key, value in vector["pre"]:
        store.put(bytes.fromhex(key), bytes.fromhex(value))
    execution = execute_block(store, vector["block_time_ms"], [parse_transaction(bytes.fromhex(vector["tx"]))])
    result = execution.results[0]
    assert (result.ok, result.code, result.leaf_bytes().hex()) == (vector["ok"], vector["code"], vector["result_leaf"])
    assert [[key.hex(), (execution.write_set[key] or b"").hex()] for key in sorted(execution.write_set)] == vector["write_set"]


def test_vectors_match_the_current_rules():
    assert [vector["name"] for vector in VECTORS] == list(SCENARIOS)
    assert build_vector(VECTORS[0]["name"]) == VECTORS[0]
