"""`testnet init`: homes a node can open, and the testnet.json contract."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from node.home import open_home
from node import testnet as testnets
from node.testnet import init_testnet, load_testnet

SHOPCHAIN = str(Path(sys.executable).with_name("shopchain"))


def test_init_writes_openable_homes_sharing_one_genesis(tmp_path):
    testnet = init_testnet(tmp_path / "net", validators=4, base_port=30000)
    homes = [open_home(node.home) for node in testnet.nodes]
    assert len({home.genesis.hash for home in homes}) == 1
    validators = homes[0].genesis.validators.keys
    assert [home.key.public_key for home in homes] == list(validators)
    assert [home.config.p2p.listen_port for home in homes] == [30000, 30002, 30004, 30006]
    assert [home.config.rpc.listen_port for home in homes] == [30001, 30003, 30005, 30007]
    assert all(home.config.p2p.listen_host == "127.0.0.1" for home in homes)
    peers = homes[0].config.p2p.persistent_peers
    assert peers == [f"{validators[i].hex()}@ws://127.0.0.1:{30000 + 2 * i}/p2p" for i in (1, 2, 3)]
    for node in testnet.nodes:
        assert stat.S_IMODE(os.stat(node.home / "node_key.json").st_mode) == 0o600


def test_testnet_json_follows_the_contract(tmp_path):
    directory = tmp_path / "net"
    testnet = init_testnet(directory, validators=2, base_port=31000, chain_id="demo-1")
    document = json.loads((directory / "testnet.json").read_text())
    assert set(document) == {"chain_id", "admin_key", "nodes"}
    assert document["chain_id"] == "demo-1"
    assert (directory / document["admin_key"]).is_file()
    assert document["nodes"][1] == {"name": "node1", "home": "node1", "p2p": "ws://127.0.0.1:31002/p2p",
                                    "rpc": "http://127.0.0.1:31003/rpc"}
    admin = json.loads((directory / document["admin_key"]).read_text())["public_key"]
    assert open_home(directory / "node0").genesis.admins == (admin,)
    assert load_testnet(directory) == testnet


@pytest.mark.parametrize("validators, base_port, code", [(0, 30000, "testnet.invalid"), (4, 80, "testnet.invalid")])
def test_bad_arguments_are_refused(tmp_path, validators, base_port, code):
    with pytest.raises(testnets.TestnetError) as error:
        init_testnet(tmp_path / "net", validators, base_port)
    assert error.value.code == code


def test_non_empty_directory_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(testnets.TestnetError) as error:
        init_testnet(tmp_path, 1)
    assert error.value.code == "testnet.exists" and (tmp_path / "keep.txt").read_text() == "mine"


def test_cli_init_prints_json_and_errors_as_code_message(tmp_path):
    created = subprocess.run([SHOPCHAIN, "testnet", "init", str(tmp_path / "net"), "--validators", "3", "--base-port", "32000", "--json"],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    assert [node["rpc"] for node in document["nodes"]] == [f"http://127.0.0.1:{32001 + 2 * i}/rpc" for i in range(3)]
    again = subprocess.run([SHOPCHAIN, "testnet", "init", str(tmp_path / "net"), "--validators", "3"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and again.stderr.startswith("testnet.exists: ") and "Traceback" not in again.stderr


def test_open_home_reports_what_is_missing(tmp_path):
    from node.config import ConfigError
    from node.home import HomeError
    with pytest.raises(HomeError) as missing:
        open_home(tmp_path / "absent")
    assert missing.value.code == "home.missing"
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(HomeError) as no_genesis:
        open_home(tmp_path)
    assert no_genesis.value.code == "home.no_genesis"
    (tmp_path / "config.toml").unlink()
    with pytest.raises(ConfigError):
        open_home(tmp_path)


def test_init_takes_genesis_parameters_from_the_command_line(tmp_path):
    made = subprocess.run([SHOPCHAIN, "testnet", "init", str(tmp_path / "net"), "--validators", "1", "--base-port", "30100",
                           "--param", "auto_confirm_ms=604800000", "--param", "open_registration=false"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    params = open_home(tmp_path / "net" / "node0").genesis.params
    assert params["auto_confirm_ms"] == 604800000 and params["open_registration"] is False
    for bad, says in (("auto_confirm_ms=soon", "takes an integer"), ("novel=1", "unknown parameter"), ("x", "NAME=VALUE")):
        refused = subprocess.run([SHOPCHAIN, "testnet", "init", str(tmp_path / bad), "--validators", "1", "--param", bad],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and refused.stderr.startswith("testnet.invalid:") and says in refused.stderr
