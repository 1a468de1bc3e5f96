"""config.toml: defaults, round trip, and clear refusals."""
import dataclasses
from pathlib import Path

import tomli_w

import pytest

from node.config import SECTION_TYPES, ConfigError, NodeConfig, P2PSection, load_config, parse_config, render_config


def test_empty_file_gives_every_default():
    assert parse_config("") == NodeConfig()


def test_render_then_parse_is_the_identity():
    config = NodeConfig(p2p=P2PSection(listen_port=7001, persistent_peers=["ws://127.0.0.1:7002/p2p"], reconnect_base_s=0.5))
    assert parse_config(render_config(config)) == config


def test_defaults_bind_to_loopback():
    config = NodeConfig()
    assert config.p2p.listen_host == "127.0.0.1" and config.rpc.listen_host == "127.0.0.1"


@pytest.mark.parametrize("text, code", [
    ("[p2p\nlisten_port = 1", "config.malformed"),
    ("[consensus]\nx = 1", "config.unknown_key"),
    ("[p2p]\nlisten_prot = 1", "config.unknown_key"),
    ("[p2p]\nlisten_port = \"26656\"", "config.invalid"),
    ("[p2p]\nlisten_port = -1", "config.invalid"),
    ("[p2p]\nlisten_port = true", "config.invalid"),
    ("[p2p]\npersistent_peers = [1]", "config.invalid"),
    ("p2p = 3", "config.invalid"),
    ("[state]\nproof_window_blocks = 0", "config.invalid"),
    ("[state]\ntree_memory_mb = -1", "config.invalid"),
])
def test_bad_config_is_refused_with_its_code(text, code):
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert error.value.code == code


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert error.value.code == "config.missing" and "testnet init" in error.value.message


def documented_default(value) -> str:
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


@pytest.mark.parametrize("section", list(SECTION_TYPES))
def test_every_key_is_documented_with_its_default(section):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section_type = SECTION_TYPES[section]
    for field in dataclasses.fields(section_type):
        row = f"| `{section}.{field.name}` | `{documented_default(getattr(section_type(), field.name))}` |"
        assert row in doc, f"docs/configuration.md lacks the row {row}"
