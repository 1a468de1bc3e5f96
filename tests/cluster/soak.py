"""The crash and flood soak: a 4-validator cluster of real processes under
load, its validators SIGKILLed one at a time, then checked.

While clients submit transfers with ``wait: commit`` (an answer is an
acknowledgement: the node says the transaction committed) to nodes at
random, a killer SIGKILLs a random validator every ``kill_interval_s``,
keeps it down for a while and starts it again (at most f = 1 down at a
time), ``kills`` times; a flood phase floods node0's RPC from 127.0.0.2.
Then, with every node up and caught up:

- no acknowledged transaction is lost: each is in every node's chain;
- every node holds identical blocks (so identical results: the header
  commits to them) at every height;
- every store opens;
- no validator signed two different blocks at one (height, phase, view),
  by its vote log (``node.vote_log``): two conflicting votes that never
  meet leave no evidence on the chain.

``python -m tests.cluster.soak --kills 1000 --flood-s 60`` (``make soak``)
runs the long version; tests/cluster/test_soak.py a short one.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from chain.keys import KeyPair, load_key_file
from chain.transaction import build_transaction
from node.client import RpcCallError, ShopchainClient
from node.cluster import Cluster
from node.config import load_config, render_config
from node.testnet import Testnet, init_testnet
from node.vote_log import VOTE_LOG_FILE, conflicting_votes, read_votes
from storage.blockstore import open_block_store
from tests.cluster.clusterutil import FAST_PARAMS, free_port_base
from tests.waiting import eventually_value

CLIENTS = 8
FUNDING = 10**9


@dataclass(frozen=True)
class SoakConfig:
    kills: int = 20
    kill_interval_s: float = 2.0
    down_s: tuple[float, float] = (0.2, 1.5)
    flood_s: float = 20.0
    seed: int = 1


@dataclass
class SoakReport:
    kills: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    height: int = 0
    diverging_heights: list[int] = field(default_factory=list)
    stores_opened: int = 0
    double_signs: list[str] = field(default_factory=list)
    flood_heights: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        committed_through_flood = all(gained > 0 for gained in self.flood_heights.values())
        return (not self.lost and not self.diverging_heights and self.stores_opened == 4 and not self.double_signs
                and committed_through_flood)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self) | {"ok": self.ok}, sort_keys=True)


def _enable_vote_logs(testnet: Testnet) -> None:
    for node in testnet.nodes:
        config = load_config(node.home)
        config = dataclasses.replace(config, node=dataclasses.replace(config.node, vote_log=True))
        (node.home / "config.toml").write_text(render_config(config))


class Soak:
    def __init__(self, directory: Path, config: SoakConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.testnet = init_testnet(directory, 4, free_port_base(8), "shopchain-soak", params=FAST_PARAMS)
        _enable_vote_logs(self.testnet)
        self.cluster = Cluster(self.testnet)
        self.urls = {node.name: node.rpc_url for node in self.testnet.nodes}
        self.down: set[str] = set()
        self.acknowledged: list[str] = []
        self.report = SoakReport()

    # -- running --------------------------------------------------------------------------

    def run(self) -> SoakReport:
        started = time.monotonic()
        self.cluster.start_all()
        try:
            for name in self.urls:
                self.cluster.wait_ready(name)
            asyncio.run(self._load_and_kill())
            asyncio.run(self._check_chains())
        finally:
            self.cluster.stop_all()
        self._check_stores()
        self._check_votes()
        self.report.acknowledged = len(self.acknowledged)
        self.report.wall_s = round(time.monotonic() - started, 1)
        return self.report

    async def _load_and_kill(self) -> None:
        keys = await self._funded_accounts()
        stop = asyncio.Event()
        clients = [asyncio.ensure_future(self._client(key, stop)) for key in keys]
        await self._killer()
        await self._flood()
        stop.set()
        await asyncio.gather(*clients)

    async def _funded_accounts(self) -> list[KeyPair]:
        admin = load_key_file(self.testnet.admin_key_path)
        keys = [KeyPair.generate() for _ in range(CLIENTS)]
        async with ShopchainClient(self.urls["node0"]) as client:
            nonce = await client.next_nonce(admin.address)
            for key in keys:
                for kind, body in (("account.register", {"name": "soak", "account": key.address}),
                                   ("funds.mint", {"to": key.address, "amount": FUNDING})):
                    tx = build_transaction(admin, self.testnet.chain_id, nonce, kind, body)
                    result = await client.call("tx_submit", tx=tx.raw.hex(), wait="commit")
                    assert result["ok"], result
                    nonce += 1
        return keys

    async def _client(self, key: KeyPair, stop: asyncio.Event) -> None:
        """Transfers one after another; each is retried, on any node, until a
        node acknowledges its commit (or says it is a duplicate of one that
        did): only then does the next nonce go out."""
        target = KeyPair.generate().address
        nonce = 1
        while not stop.is_set():
            tx = build_transaction(key, self.testnet.chain_id, nonce, "funds.transfer", {"to": target, "amount": 1})
            while not await self._acknowledged(tx):     # each try is a round trip to a live node
                continue
            self.acknowledged.append(tx.id)
            nonce += 1

    async def _acknowledged(self, tx) -> bool:
        name = self.rng.choice([name for name in self.urls if name not in self.down])
        try:
            async with ShopchainClient(self.urls[name], timeout_s=10) as client:
                result = await client.call("tx_submit", tx=tx.raw.hex(), wait="commit")
                return bool(result.get("height"))
        except RpcCallError as error:
            if error.code in ("tx.duplicate", "tx.bad_nonce", "tx.timeout"):
                return await self._committed_somewhere(tx.id)
            return False
        except asyncio.TimeoutError:
            return False

    async def _committed_somewhere(self, tx_id: str) -> bool:
        for name in self.urls:
            if name in self.down:
                continue
            try:
                async with ShopchainClient(self.urls[name], timeout_s=5) as client:
                    await client.call("tx_get", id=tx_id)
                    return True
            except (RpcCallError, asyncio.TimeoutError):
                continue
        return False

    async def _killer(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.config.kills):
            await asyncio.sleep(self.config.kill_interval_s)
            victim = self.rng.choice(sorted(self.urls))
            self.down.add(victim)
            self.cluster.kill(victim)
            await asyncio.sleep(self.rng.uniform(*self.config.down_s))
            self.cluster.start(victim)
            await loop.run_in_executor(None, self.cluster.wait_ready, victim)
            self.down.discard(victim)
            self.report.kills += 1

    async def _flood(self) -> None:
        if self.config.flood_s <= 0:
            return
        before = await self._heights()
        flooder = subprocess.Popen([sys.executable, "-m", "tests.cluster.flooder", self.urls["node0"]],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await asyncio.sleep(self.config.flood_s)
        finally:
            flooder.kill()
            flooder.wait(10)
        after = await self._heights()
        self.report.flood_heights = {name: after[name] - before[name] for name in after}

    async def _heights(self) -> dict[str, int]:
        heights = {}
        for name, url in self.urls.items():
            async with ShopchainClient(url, timeout_s=10) as client:
                heights[name] = (await client.chain_status())["height"]
        return heights

    # -- checks ---------------------------------------------------------------------------

    async def _check_chains(self) -> None:
        heights = await eventually_value(self._heights, lambda seen: len(set(seen.values())) == 1, 120,
                                         what="every node at one height")
        top = min(heights.values())
        self.report.height = top
        clients = {name: ShopchainClient(url, timeout_s=10) for name, url in self.urls.items()}
        for client in clients.values():
            await client.__aenter__()
        try:
            for height in range(1, top + 1):
                hashes = {(await client.block_get(height))["hash"] for client in clients.values()}
                if len(hashes) != 1:
                    self.report.diverging_heights.append(height)
            for tx_id in self.acknowledged:
                for client in clients.values():
                    try:
                        await client.call("tx_get", id=tx_id)
                    except RpcCallError:
                        self.report.lost.append(tx_id)
                        break
        finally:
            for client in clients.values():
                await client.__aexit__(None, None, None)

    def _check_stores(self) -> None:
        for node in self.testnet.nodes:
            store = open_block_store(node.home / "data")
            try:
                store.last_height()
                self.report.stores_opened += 1
            finally:
                store.close()

    def _check_votes(self) -> None:
        for node in self.testnet.nodes:
            for first, second in conflicting_votes(read_votes(node.home / VOTE_LOG_FILE)):
                self.report.double_signs.append(f"{node.name}: {first} / {second}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--kill-interval-s", type=float, default=2.0)
    parser.add_argument("--flood-s", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    config = SoakConfig(kills=args.kills, kill_interval_s=args.kill_interval_s, flood_s=args.flood_s, seed=args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        report = Soak(Path(scratch) / "net", config).run()
    print(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
