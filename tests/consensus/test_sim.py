"""The simulator (node/sim) over the real consensus core and commerce application: safety
and liveness smoke tests (the full properties and determinism are in tests/sim)."""
import pytest

from node.sim import SimConfig, run


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kw", [
    dict(validators=4, byzantine=1, drop=0.05, duplicate=0.05),
    dict(validators=7, byzantine=2, duplicate=0.1),
    dict(validators=4, crash_rate=1.0, drop=0.02),
], ids=["n4-silent-drop", "n7-silent-dup", "n4-crashes"])
def test_no_safety_violation(seed, kw):
    report = run(SimConfig(seed=seed, duration_ms=5_000, **kw))
    assert report.violations == []


def test_honest_network_makes_progress():
    report = run(SimConfig(seed=1, duration_ms=5_000))
    assert report.liveness_ok and report.committed_height - report.history_height >= 10 and report.view_changes == 0


@pytest.mark.parametrize("kw", [dict(validators=4, byzantine=1), dict(validators=7, byzantine=2)], ids=["n4", "n7"])
def test_liveness_with_a_lossy_network(kw):
    report = run(SimConfig(seed=2, duration_ms=20_000, drop=0.05, **kw))
    assert report.violations == [] and report.liveness_ok and report.committed_height - report.history_height >= 5
