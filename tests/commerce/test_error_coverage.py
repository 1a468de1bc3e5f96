"""Every code commerce raises is documented (docs/errors.md) and produced by
a test: tests/commerce/conftest.py records each TxRejected and BlockInvalid
made while the suite runs, and this module runs after the others."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r"(?:TxRejected|BlockInvalid)\(\s*\"([a-z_]+(?:\.[a-z_]+)+)\"")


def _raised_codes() -> list[str]:
    return sorted({code for path in (ROOT / "commerce").rglob("*.py") for code in RAISED.findall(path.read_text())})


DOCS_TEXT = (ROOT / "docs" / "errors.md").read_text()


@pytest.mark.parametrize("code", _raised_codes())
def test_code_is_documented_and_produced(code, produced_codes):
    assert f"- `{code}` — " in DOCS_TEXT, f"{code} is missing from docs/errors.md"
    assert code in produced_codes, f"no test produced {code} (run the whole of tests/commerce: codes are recorded as it runs)"
