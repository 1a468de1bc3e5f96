"""The simulator (node/sim) over the real consensus core and commerce application: safety,
liveness and determinism smoke tests (the full properties are in tests/sim)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from node.sim import SimConfig, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kw", [
    dict(validators=4, byzantine=1, drop=0.05, duplicate=0.05),
    dict(validators=7, byzantine=2, duplicate=0.1),
    dict(validators=4, crash_rate=1.0, drop=0.02),
], ids=["n4-silent-drop", "n7-silent-dup", "n4-crashes"])
def test_no_safety_violation(seed, kw):
    report = run(SimConfig(seed=seed, duration_ms=5_000, **kw))
    assert report.safety_violations == []


def test_honest_network_makes_progress():
    report = run(SimConfig(seed=1, duration_ms=5_000))
    assert report.liveness_ok and report.committed_height >= 10 and report.view_changes == 0


def test_same_seed_same_trace_hash_across_processes():
    code = ("import json; from node.sim import SimConfig, run; "
            "print(json.dumps(run(SimConfig(seed=7, duration_ms=3000, byzantine=1, drop=0.05)).to_json()))")
    hashes = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        hashes.add(json.loads(out.stdout)["trace_hash"])
    assert len(hashes) == 1
    assert run(SimConfig(seed=7, duration_ms=3000, byzantine=1, drop=0.05)).trace_hash in hashes


@pytest.mark.parametrize("kw", [dict(validators=4, byzantine=1), dict(validators=7, byzantine=2)], ids=["n4", "n7"])
def test_liveness_with_a_lossy_network(kw):
    report = run(SimConfig(seed=2, duration_ms=20_000, drop=0.05, **kw))
    assert report.safety_violations == [] and report.liveness_ok and report.committed_height >= 5
