"""``shopchain testnet init``: node homes for a local network on loopback.

Writes DIR/nodeI/ for each validator (config.toml, genesis.json,
node_key.json), DIR/admin_key.json (a genesis admin) and DIR/testnet.json:
``{"chain_id", "admin_key", "nodes": [{"name", "home", "p2p", "rpc"}]}``
where ``admin_key`` and each ``home`` are relative to DIR, ``p2p`` is the
``/p2p`` websocket URL and ``rpc`` the full URL of ``/rpc``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chain.errors import CodedError, GenesisError
from chain.genesis import genesis_from_document
from chain.keys import KeyPair, save_key_file
from chain.state_tree import STATE_SCHEME
from node.config import NodeConfig, render_config
from node.home import GENESIS_FILE, NODE_KEY_FILE, SIGN_STATE_FILE
from node.sign_state_file import SignStateFile

TESTNET_FILE = "testnet.json"
ADMIN_KEY_FILE = "admin_key.json"
TREASURY_KEY_FILE = "treasury_key.json"
DEFAULT_BASE_PORT = 26656
# A testnet's order clocks run in seconds so a demo shows every step: orders
# confirm 15 s after delivery; shipping and disputes time out after 2 minutes.
TESTNET_PARAMS = {"auto_confirm_ms": 15_000, "ship_timeout_ms": 120_000, "dispute_timeout_ms": 120_000}
# The admin starts with funds to pay for the demo's registrations and mints.
ADMIN_ALLOCATION = 10**15


class TestnetError(CodedError):
    """A testnet folder that cannot be created or read."""


@dataclass(frozen=True, slots=True)
class TestnetNode:
    name: str
    home: Path
    p2p_url: str
    rpc_url: str


@dataclass(frozen=True, slots=True)
class Testnet:
    directory: Path
    chain_id: str
    admin_key_path: Path
    nodes: tuple[TestnetNode, ...]


def init_testnet(directory: Path, validators: int, base_port: int = DEFAULT_BASE_PORT,
                 chain_id: str = "shopchain-local", genesis_time_ms: int | None = None,
                 params: dict[str, int | bool] | None = None) -> Testnet:
    """``params`` override the testnet's genesis parameters (faster blocks for tests, say)."""
    if validators < 1:
        raise TestnetError("testnet.invalid", "--validators must be at least 1")
    if not 1024 <= base_port <= 65535 - 2 * validators:
        raise TestnetError("testnet.invalid", f"--base-port must leave room for {2 * validators} ports below 65536")
    if directory.exists() and any(directory.iterdir()):
        raise TestnetError("testnet.exists", f"{directory} is not empty; choose a new folder or remove it")
    directory.mkdir(parents=True, exist_ok=True)
    keys = [KeyPair.generate() for _ in range(validators)]
    admin, treasury = KeyPair.generate(), KeyPair.generate()
    time_ms = genesis_time_ms if genesis_time_ms is not None else int(time.time() * 1000)
    genesis_document = _genesis_document(chain_id, time_ms, keys, admin, treasury, params or {})
    try:
        genesis_from_document(genesis_document)  # refuse to write a genesis no node could start from
    except GenesisError as error:
        raise TestnetError("testnet.invalid", f"the genesis parameters do not work: {error.message}") from None
    save_key_file(directory / ADMIN_KEY_FILE, admin)
    save_key_file(directory / TREASURY_KEY_FILE, treasury)
    nodes = tuple(
        TestnetNode(f"node{i}", directory / f"node{i}", f"ws://127.0.0.1:{base_port + 2 * i}/p2p",
                    f"http://127.0.0.1:{base_port + 2 * i + 1}/rpc")
        for i in range(validators)
    )
    for index, node in enumerate(nodes):
        _write_home(node, index, nodes, keys, base_port, genesis_document)
    testnet = Testnet(directory, chain_id, directory / ADMIN_KEY_FILE, nodes)
    (directory / TESTNET_FILE).write_text(json.dumps(_describe(testnet), indent=2) + "\n")
    return testnet


def _genesis_document(chain_id: str, time_ms: int, keys: list[KeyPair], admin: KeyPair, treasury: KeyPair,
                      params: dict[str, int | bool]) -> dict[str, Any]:
    return {
        "chain_id": chain_id,
        "genesis_time_ms": time_ms,
        "validators": [key.address for key in keys],
        "admins": [admin.address],
        "treasury": treasury.address,
        "allocations": [{"address": admin.address, "amount": ADMIN_ALLOCATION}],
        "params": {**TESTNET_PARAMS, **params},
        "state_scheme": STATE_SCHEME,
    }


def _write_home(node: TestnetNode, index: int, nodes: tuple[TestnetNode, ...], keys: list[KeyPair],
                base_port: int, genesis_document: dict[str, Any]) -> None:
    node.home.mkdir()
    save_key_file(node.home / NODE_KEY_FILE, keys[index])
    (node.home / GENESIS_FILE).write_text(json.dumps(genesis_document, indent=2) + "\n")
    SignStateFile(node.home / SIGN_STATE_FILE, genesis_document["chain_id"], keys[index].public_key).create()
    defaults = NodeConfig()
    peers = [f"{keys[i].address}@{other.p2p_url}" for i, other in enumerate(nodes) if i != index]
    config = NodeConfig(
        node=replace(defaults.node, name=node.name),
        p2p=replace(defaults.p2p, listen_port=base_port + 2 * index, persistent_peers=peers),
        rpc=replace(defaults.rpc, listen_port=base_port + 2 * index + 1),
        mempool=defaults.mempool,
    )
    (node.home / "config.toml").write_text(render_config(config))


def _describe(testnet: Testnet) -> dict[str, Any]:
    return {
        "chain_id": testnet.chain_id,
        "admin_key": ADMIN_KEY_FILE,
        "nodes": [
            {"name": node.name, "home": node.home.name, "p2p": node.p2p_url, "rpc": node.rpc_url} for node in testnet.nodes
        ],
    }


def load_testnet(directory: Path) -> Testnet:
    path = directory / TESTNET_FILE
    try:
        document = json.loads(path.read_text())
        nodes = tuple(
            TestnetNode(entry["name"], directory / entry["home"], entry["p2p"], entry["rpc"]) for entry in document["nodes"]
        )
        return Testnet(directory, document["chain_id"], directory / document["admin_key"], nodes)
    except FileNotFoundError:
        raise TestnetError("testnet.missing", f"no {TESTNET_FILE} in {directory}; run 'shopchain testnet init {directory}'") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise TestnetError("testnet.malformed", f"{path} is damaged ({error!r}); run 'testnet init' into a new folder") from None
