"""`shopchain keys new|show` through the installed console script."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from chain.keys import load_key_file

SHOPCHAIN = [str(Path(sys.executable).with_name("shopchain"))]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHOPCHAIN + list(args), capture_output=True, text=True, timeout=60)


def test_keys_new_writes_a_0600_key_file_and_show_reads_it(tmp_path):
    key_path = tmp_path / "alice.json"
    created = run("keys", "new", "--out", str(key_path), "--json")
    assert created.returncode == 0, created.stderr
    address = json.loads(created.stdout)["address"]
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert load_key_file(key_path).address == address
    shown = run("keys", "show", str(key_path))
    assert shown.returncode == 0 and shown.stdout.strip() == address


def test_keys_new_refuses_to_overwrite(tmp_path):
    key_path = tmp_path / "k.json"
    key_path.write_text("precious")
    result = run("keys", "new", "--out", str(key_path))
    assert result.returncode == 1
    assert result.stderr.startswith("key.exists: ")
    assert key_path.read_text() == "precious"


def test_keys_show_reports_a_missing_file_without_a_traceback(tmp_path):
    result = run("keys", "show", str(tmp_path / "absent.json"))
    assert result.returncode == 1
    assert result.stderr.startswith("key.missing: ") and "Traceback" not in result.stderr


def test_keys_show_reports_a_malformed_file(tmp_path):
    key_path = tmp_path / "bad.json"
    key_path.write_text('{"seed": "zz"}')
    result = run("keys", "show", str(key_path))
    assert result.returncode == 1 and result.stderr.startswith("key.malformed: ")
