"""`shopchain node declare-sign-state` through the installed console script:
it asks for --confirm, never replaces a file, and writes one the node reads."""
import json
import subprocess
import sys
from pathlib import Path

from consensus.sign_state import SignState
from node.home import open_home
from node.sign_state_file import SignStateFile
from node.testnet import init_testnet

SHOPCHAIN = [str(Path(sys.executable).with_name("shopchain"))]


def declare(home: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHOPCHAIN + ["node", "declare-sign-state", "--home", str(home), *extra],
                          capture_output=True, text=True, timeout=60)


def test_declaring_a_lost_sign_state_needs_confirm_never_replaces_a_file_and_is_read_back(tmp_path):
    home = init_testnet(tmp_path / "net", 1, 30000).nodes[0].home
    kept = (home / "sign_state").read_bytes()
    refused = declare(home, "--signed-nothing-from", "9", "--confirm")
    assert refused.returncode == 1 and refused.stderr.startswith("sign_state.exists:")
    assert (home / "sign_state").read_bytes() == kept

    (home / "sign_state").unlink()
    unconfirmed = declare(home, "--signed-nothing-from", "9")
    assert unconfirmed.returncode == 1 and unconfirmed.stderr.startswith("sign_state.unconfirmed:")
    assert not (home / "sign_state").exists()

    declared = declare(home, "--signed-nothing-from", "9", "--confirm")
    assert declared.returncode == 0, declared.stderr
    assert json.loads(declared.stdout)["signs_from_height"] == 9
    opened = open_home(home)
    state = SignStateFile(opened.sign_state_path, opened.genesis.chain_id, opened.key.public_key).read()
    assert state == SignState.declared(opened.genesis.chain_id, opened.key.public_key, 9)
    assert not state.may_sign_at(8) and state.may_sign_at(9)
