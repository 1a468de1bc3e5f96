"""What /health decides, from a node's facts (node/health.py)."""
from dataclasses import replace

from node.health import HealthFacts, HealthLimits, assess

LIMITS = HealthLimits(view_timeout_ms=1_000, no_commit_views=3, behind_blocks=4)
COMMITTING = HealthFacts(height=10, certified_height=10, last_commit_age_ms=400, peers=3, validators_connected=3, halted=False)


def _replace(changes):
    return replace(COMMITTING, **changes)


def test_a_committing_node_is_ok_with_the_documented_fields():
    status, body = assess(COMMITTING, LIMITS)
    assert status == 200
    assert body == {"status": "ok", "height": 10, "last_commit_age_ms": 400, "peers": 3, "validators_connected": 3,
                    "catching_up": False}


def test_no_commit_for_the_view_timeouts_is_503():
    assert assess(_replace({"last_commit_age_ms": 3_000}), LIMITS)[0] == 200
    status, body = assess(_replace({"last_commit_age_ms": 3_001}), LIMITS)
    assert status == 503 and body["status"] == "unhealthy" and body["reasons"] == ["no_commit"]


def test_behind_a_verified_certificate_is_503_and_catching_up_shows():
    status, body = assess(_replace({"certified_height": 14}), LIMITS)
    assert status == 200 and body["catching_up"] is True
    status, body = assess(_replace({"certified_height": 15}), LIMITS)
    assert status == 503 and body["reasons"] == ["behind"]


def test_halted_node_gives_every_reason_it_has():
    status, body = assess(_replace({"halted": True, "last_commit_age_ms": 10_000}), LIMITS)
    assert status == 503 and body["reasons"] == ["halted", "no_commit"]
