"""The node's ``config.toml``: every operator-tunable value, with its default.

Read with tomllib, written with tomli-w. Unknown sections or keys are refused
(a misspelt key silently ignored is an outage waiting to happen); missing
keys take the defaults below, which docs/configuration.md lists.
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from chain.errors import CodedError
from node.mempool import MempoolLimits
from p2p.network import PeerLimits
from storage.blockstore import PROOF_WINDOW_BLOCKS, TREE_MEMORY_BYTES

CONFIG_FILE = "config.toml"


class ConfigError(CodedError):
    """A config.toml that cannot run a node."""


@dataclass(frozen=True, slots=True)
class NodeSection:
    # A label for logs and metrics.
    name: str = "node"
    # Python logging level name.
    log_level: str = "INFO"
    # Append every vote this validator signs to votes.log in its home (node/vote_log.py), for audits.
    vote_log: bool = False


@dataclass(frozen=True, slots=True)
class P2PSection(PeerLimits):
    """Where the node listens and whom it dials, plus every PeerLimits value."""

    # Loopback by default: expose a node to other hosts deliberately.
    listen_host: str = "127.0.0.1"
    listen_port: int = 26656
    # Peers to keep connected: "ws://host:port/p2p" URLs, optionally "KEYHEX@URL".
    persistent_peers: list[str] = field(default_factory=list)
    # Committed blocks per block-sync response.
    sync_batch_blocks: int = 16
    # Bytes of block-sync answers one peer may draw a second (a burst of two
    # frames saved): a 20-byte request can ask for a frame of blocks.
    sync_serve_bytes_per_s: int = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RpcSection:
    listen_host: str = "127.0.0.1"
    listen_port: int = 26657
    # 1 MiB holds a batch of large transactions; bigger bodies are refused.
    body_bytes_max: int = 1024 * 1024
    batch_max: int = 100
    subscriptions_per_connection_max: int = 64
    # How long tx_submit with wait=commit waits before answering tx.timeout.
    commit_wait_s: float = 30.0
    page_size_max: int = 100
    # Open client connections, in all and from one address (node/rpc_gate.py).
    connections_max: int = 512
    connections_per_address_max: int = 256
    # Requests (and websocket messages) per second on one connection, and the burst it may save up.
    requests_per_s: float = 500.0
    requests_burst: int = 1000
    # Calls per second from one address, every call of a batch counted, and the burst it may save up.
    address_calls_per_s: float = 2000.0
    address_calls_burst: int = 2000
    # Notifications queued for one websocket, and how long one send may wait on a client that does not read.
    ws_queue_max: int = 1024
    ws_send_timeout_s: float = 10.0
    # /health answers 503 after this many view timeouts without a commit, or this many blocks behind a verified certificate.
    health_no_commit_views: int = 3
    health_behind_blocks: int = 4
    # Which web pages may read /rpc from a browser (CORS): "*" lets any explorer
    # check this node against another; "" allows none but this node's own.
    cors_allow_origin: str = "*"


@dataclass(frozen=True, slots=True)
class StateSection:
    # Heights whose state the node keeps provable (older state tree nodes are deleted).
    proof_window_blocks: int = PROOF_WINDOW_BLOCKS
    # Memory for the state tree's nodes above its base on disk (storage/blockstore.py); past it they go to disk.
    tree_memory_mb: int = TREE_MEMORY_BYTES // (1024 * 1024)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    node: NodeSection = field(default_factory=NodeSection)
    p2p: P2PSection = field(default_factory=P2PSection)
    rpc: RpcSection = field(default_factory=RpcSection)
    mempool: MempoolLimits = field(default_factory=MempoolLimits)
    state: StateSection = field(default_factory=StateSection)


# Section name -> its dataclass, in file order.
SECTION_TYPES: dict[str, type] = typing.get_type_hints(NodeConfig)


def parse_config(text: str, where: str = CONFIG_FILE) -> NodeConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("config.malformed", f"{where} is not valid TOML ({error}); fix its syntax") from None
    unknown = sorted(set(document) - set(SECTION_TYPES))
    if unknown:
        raise ConfigError("config.unknown_key", f"{where}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTION_TYPES)}")
    sections = {name: _parse_section(name, SECTION_TYPES[name], document.get(name, {}), where) for name in SECTION_TYPES}
    if sections["state"].proof_window_blocks < 1:
        raise ConfigError("config.invalid", f"{where}: state.proof_window_blocks must be at least 1 (the height just committed)")
    return NodeConfig(**sections)


def _parse_section(name: str, section_type: Any, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError("config.invalid", f"{where}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(section_type)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError("config.unknown_key", f"{where}: unknown key(s) {', '.join(unknown)} in [{name}]; known: {', '.join(fields)}")
    defaults = section_type()
    for key, value in values.items():
        _check_type(f"{name}.{key}", getattr(defaults, key), value, where)
    return section_type(**values)


def _check_type(name: str, default: Any, value: Any, where: str) -> None:
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and value >= 0
    elif isinstance(default, int):
        ok = isinstance(value, int) and value >= 0
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = "a list of strings" if isinstance(default, list) else f"a non-negative {type(default).__name__}" if isinstance(default, (int, float)) and not isinstance(default, bool) else f"a {type(default).__name__}"
        raise ConfigError("config.invalid", f"{where}: {name} must be {kind}")


def load_config(home: Path) -> NodeConfig:
    path = home / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config.missing", f"no {CONFIG_FILE} in {home}; create the home with 'shopchain testnet init'") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError("config.unreadable", f"cannot read {path}: {error}") from None
    return parse_config(text, str(path))


def render_config(config: NodeConfig) -> str:
    return tomli_w.dumps(dataclasses.asdict(config))
