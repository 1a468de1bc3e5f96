"""Every code commerce raises is documented (tests/test_error_codes_documented.py)
and produced by at least one test of tests/commerce."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r"(?:TxRejected|BlockInvalid)\(\s*\"([a-z_]+(?:\.[a-z_]+)+)\"")


def _raised_codes() -> list[str]:
    return sorted({code for path in (ROOT / "commerce").rglob("*.py") for code in RAISED.findall(path.read_text())})


TESTS_TEXT = "\n".join(path.read_text() for path in (ROOT / "tests" / "commerce").glob("test_*.py") if path.name != Path(__file__).name)
DOCS_TEXT = (ROOT / "docs" / "errors.md").read_text()


@pytest.mark.parametrize("code", _raised_codes())
def test_code_is_documented_and_exercised(code):
    assert f"- `{code}` — " in DOCS_TEXT, f"{code} is missing from docs/errors.md"
    assert f'"{code}"' in TESTS_TEXT, f"no test in tests/commerce produces {code}"
