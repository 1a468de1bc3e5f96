"""Every error code raised anywhere in the project is listed in docs/errors.md."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chain", "storage", "commerce", "consensus", "p2p", "node", "cli")
# A coded error is raised as SomethingError("area.code", ...), TxRejected("...", ...)
# and the like: a call whose first argument is a dotted lowercase literal.
RAISED_CODE = re.compile(r"\b\w*(?:Error|Rejected|Invalid)\(\s*\"([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)\"")
DOCUMENTED_CODE = re.compile(r"^- `([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)` — ", re.M)


def raised_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for code in RAISED_CODE.findall(path.read_text()):
                codes.setdefault(code, str(path.relative_to(ROOT)))
    return codes


RAISED = raised_codes()
DOCUMENTED = set(DOCUMENTED_CODE.findall((ROOT / "docs" / "errors.md").read_text()))


def test_scan_finds_the_known_codes():
    assert {"encoding.float", "tx.bad_signature", "cert.no_quorum", "genesis.view_timeout_too_short", "p2p.flood"} <= set(RAISED)


@pytest.mark.parametrize("code", sorted(RAISED))
def test_raised_code_is_documented(code):
    assert code in DOCUMENTED, f"{code} (raised in {RAISED[code]}) is missing from docs/errors.md"
