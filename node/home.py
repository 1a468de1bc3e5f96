"""The node home: ``config.toml``, ``genesis.json``, ``node_key.json``,
``sign_state`` and ``data/`` (docs/configuration.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chain.errors import CodedError
from chain.genesis import Genesis, parse_genesis
from chain.keys import KeyPair, load_key_file
from node.config import NodeConfig, load_config

GENESIS_FILE = "genesis.json"
NODE_KEY_FILE = "node_key.json"
SIGN_STATE_FILE = "sign_state"
DATA_DIR = "data"


class HomeError(CodedError):
    """A node home that is missing or incomplete."""


@dataclass(frozen=True, slots=True)
class NodeHome:
    path: Path
    config: NodeConfig
    genesis: Genesis
    key: KeyPair

    @property
    def data_dir(self) -> Path:
        return self.path / DATA_DIR

    @property
    def sign_state_path(self) -> Path:
        return self.path / SIGN_STATE_FILE


def open_home(path: str | Path) -> NodeHome:
    """Read and check a home; every problem is a coded error naming the file."""
    home = Path(path)
    if not home.is_dir():
        raise HomeError("home.missing", f"{home} is not a node home; create one with 'shopchain testnet init'")
    config = load_config(home)
    genesis_path = home / GENESIS_FILE
    try:
        genesis = parse_genesis(genesis_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HomeError("home.no_genesis", f"{genesis_path} is missing; copy the network's genesis.json there") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HomeError("home.no_genesis", f"cannot read {genesis_path}: {error}") from None
    return NodeHome(home, config, genesis, load_key_file(home / NODE_KEY_FILE))
