"""Golden transcripts (testdata/*.txt); regenerate with REWRITE=1."""
import os
from pathlib import Path

import pytest

from tests.consensus.harness import run_script

DATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("path", sorted(DATA.glob("*.txt")), ids=lambda p: p.stem)
def test_transcript(path):
    expected = path.read_text()
    actual = run_script(expected)
    if os.environ.get("REWRITE"):
        path.write_text(actual)
        return
    assert actual == expected
