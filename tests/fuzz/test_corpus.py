"""The CI fuzz run: a fixed seed and a few thousand mutated inputs per surface,
and proof that the harness reports a broken target, a broken contract and a hang."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.runner import HANG_EXIT_CODE, ContractBreak, fuzz, input_at
from tests.fuzz.surfaces import (
    ACCEPTED, INTERNAL_ERROR, SURFACE_NAMES, ExceptionLog, Surface, build_surface, json_answer_outcome,
)

CI_SEED = 20_260_101
CI_INPUTS = 5_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=SURFACE_NAMES)
def surface(request) -> Surface:
    built = build_surface(request.param)
    yield built
    built.close()


def test_surface_meets_its_contract(surface):
    try:
        stats = fuzz(surface, CI_INPUTS, CI_SEED)
    except ContractBreak as broken:
        pytest.fail(f"{broken}\n{broken.reproduction()}")
    assert stats.inputs == CI_INPUTS
    # The seeds get through and the mutations reach several typed errors:
    # a corpus the protocol has outgrown would show here as all-rejected.
    assert stats.accepted > 0 and stats.rejected > 0
    assert len([code for code in stats.codes if code != ACCEPTED]) >= 2, stats.codes


def test_rpc_seeds_answer_every_method_with_a_result():
    from node.rpc_methods import build_method_table
    from tests.node.test_rpc_methods import FakeNode

    rpc = build_surface("rpc")
    try:
        answered = {json.loads(seed)["method"] for seed in rpc.seeds
                    if seed.startswith(b"{") and rpc.outcome(seed) == ACCEPTED}
    finally:
        rpc.close()
    assert answered == set(build_method_table(FakeNode(), 10, 10).names)


def test_regressions_get_their_typed_error(surface):
    """Inputs that once broke a contract (fixed in 115eb5f) are refused with a typed error."""
    for data in surface.regressions:
        assert surface.outcome(data) != ACCEPTED
    assert surface.regressions or surface.name not in {"p2p", "rpc", "ws"}


# -- the harness can fail --------------------------------------------------------------------

def _broken(surface: Surface, trigger: int) -> Surface:
    """``surface`` with a bug planted: a ValueError on every input whose length is ``trigger`` mod 7."""
    def run(data: bytes) -> str:
        if len(data) % 7 == trigger:
            raise ValueError("planted bug")
        return surface.run(data)
    return Surface(surface.name, surface.typed_error, surface.seeds, run, surface.vocabulary, surface.max_len)


def test_harness_reports_an_untyped_exception():
    target = _broken(build_surface("tx"), trigger=3)
    with pytest.raises(ContractBreak) as caught:
        fuzz(target, CI_INPUTS, CI_SEED)
    broken = caught.value
    assert len(broken.data) % 7 == 3 and isinstance(broken.cause.__cause__, ValueError)
    assert "ValueError (planted bug) instead of chain.errors.TransactionError" in str(broken)
    line = broken.reproduction()
    assert line == f"REPRO surface=tx seed={CI_SEED} index={broken.index} input={broken.data.hex()}"
    # The index alone regenerates the input, and the input alone breaks the contract again.
    assert input_at(target, CI_SEED, broken.index) == broken.data
    with pytest.raises(AssertionError, match="planted bug"):
        target.check(broken.data)


def test_harness_reports_a_wrong_typed_error():
    tx = build_surface("tx")

    def run(data: bytes) -> str:
        from p2p.errors import PeerError
        if data and data[-1] == 0:
            raise PeerError("p2p.bad_message", "a coded error of another layer")
        return tx.run(data)

    target = Surface("tx", tx.typed_error, tx.seeds, run)
    with pytest.raises(ContractBreak, match="PeerError"):
        fuzz(target, CI_INPUTS, CI_SEED)


def test_json_contract_refuses_internal_errors_and_non_json():
    log = ExceptionLog()
    internal = {"jsonrpc": "2.0", "id": 1, "error": {"code": INTERNAL_ERROR, "message": "internal error"}}
    for answer in (internal, [{"jsonrpc": "2.0", "id": 1, "result": 1}, internal], {"id": float("nan")}, [], "text"):
        with pytest.raises(AssertionError):
            json_answer_outcome(answer, log)
    assert json_answer_outcome({"jsonrpc": "2.0", "id": 1, "result": {}}, log) == ACCEPTED
    refused = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "m", "data": {"code": "rpc.invalid_params"}}}
    assert json_answer_outcome(refused, log) == "rpc.invalid_params"


_HANGING_RUN = """
import time
from tests.fuzz.runner import fuzz
from tests.fuzz.surfaces import Surface

def run(data):
    if len(data) > 40:
        time.sleep(60)
    return "accepted"

fuzz(Surface("slow", "nothing", [b"short", b"x" * 41], run), 10, seed=5, hang_s=0.5)
"""


def test_harness_reports_a_hang():
    child = subprocess.run([sys.executable, "-c", _HANGING_RUN], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert child.returncode == HANG_EXIT_CODE, child.stderr
    assert f"REPRO surface=slow seed=5 index=1 input={(b'x' * 41).hex()}" in child.stderr
