"""The crash and flood soak: a 4-validator cluster of real processes under
a commerce load, its validators SIGKILLed one at a time, then checked.

Each client runs the commerce mix of node/workload.py (40 % transfers, 20 %
coupon purchases, 20 % orders, 10 % trace events, 10 % confirmations of
delivered orders) on a marketplace of its own, set up through the chain
first; it submits one transaction at a time with ``wait: commit`` to a node
at random and retries it, on any live node, until a node acknowledges its
commit (an acknowledgement: the node says the transaction committed). A
killer SIGKILLs a random validator every ``kill_interval_s``, keeps it down
for a while and starts it again (at most f = 1 down at a time), ``kills``
times; a flood phase then floods node0's RPC from 127.0.0.2. With every
node up, the checks of the one cluster harness (tests/cluster/clusterutil.py):

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

from chain.keys import load_key_file
from chain.transaction import SignedTransaction
from node.client import RpcCallError, ShopchainClient
from node.home import open_home
from node.workload import Workload, world_on
from tests.cluster.clusterutil import audit, converged, running_testnet

CLIENTS = 8
SHOPPERS_PER_CLIENT = 3
# Delivered orders stay unconfirmed for the mix to confirm (the testnet's 15 s would confirm them first).
SOAK_PARAMS = {"auto_confirm_ms": 10**10}
PROGRESS_EVERY_KILLS = 50
# At most this many of a history block's transactions in flight at once.
SETUP_IN_FLIGHT = 32


@dataclass(frozen=True)
class SoakConfig:
    kills: int = 20
    kill_interval_s: float = 2.0
    # Delivered orders each client sets up for the mix's confirmations; when
    # they run out its confirmations become transfers.
    orders_per_client: int = 20
    down_s: tuple[float, float] = (0.2, 1.5)
    flood_s: float = 20.0
    seed: int = 1


@dataclass
class SoakReport:
    kills: int = 0
    acknowledged: int = 0
    # Acknowledged transactions that failed in their block, by error code:
    # the mix is built to succeed, so any here is worth a look.
    failed: dict[str, int] = field(default_factory=dict)
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


class Soak:
    def __init__(self, directory: Path, config: SoakConfig) -> None:
        self.directory = directory
        self.config = config
        self.rng = random.Random(config.seed)
        self.down: set[str] = set()
        self.acknowledged: list[str] = []
        self.report = SoakReport()

    # -- running --------------------------------------------------------------------------

    def run(self) -> SoakReport:
        started = time.monotonic()
        with running_testnet(self.directory, params=SOAK_PARAMS, chain_id="shopchain-soak", audited=False) as cluster:
            self.cluster = cluster
            self.urls = {node.name: node.rpc_url for node in cluster.testnet.nodes}
            asyncio.run(self._load_and_kill())
            asyncio.run(self._check_chains())
        findings = audit(cluster.testnet)
        self.report.stores_opened, self.report.double_signs = findings.stores_opened, findings.double_signs
        self.report.acknowledged = len(self.acknowledged)
        self.report.wall_s = round(time.monotonic() - started, 1)
        return self.report

    async def _load_and_kill(self) -> None:
        workloads = [await self._set_up(index) for index in range(CLIENTS)]
        stop = asyncio.Event()
        clients = [asyncio.ensure_future(self._client(workload, stop)) for workload in workloads]
        await self._killer()
        await self._flood()
        stop.set()
        await asyncio.gather(*clients)

    async def _set_up(self, index: int) -> Workload:
        """A client's marketplace, set up through node0 one history block at a time."""
        home = open_home(self.cluster.testnet.nodes[0].home)
        admin = load_key_file(self.cluster.testnet.admin_key_path)
        workload = Workload(world_on(home.genesis, admin, f"soak-{index}", SHOPPERS_PER_CLIENT, merchants=1),
                            random.Random(self.config.seed * 1_000 + index))
        async with ShopchainClient(self.urls["node0"], timeout_s=30) as client:
            workload.nonces[admin.public_key] = await client.next_nonce(admin.address) - 1
            workload.fund()
            workload.set_up(orders_to_confirm=self.config.orders_per_client)
            in_flight = asyncio.Semaphore(SETUP_IN_FLIGHT)

            async def commit(tx: SignedTransaction) -> None:
                async with in_flight:
                    result = await client.call("tx_submit", tx=tx.raw.hex(), wait="commit")
                assert result["ok"], (tx.kind, result)
                self.acknowledged.append(tx.id)

            for block in workload.history:
                await asyncio.gather(*(commit(tx) for tx in block))
        workload.history.clear()
        return workload

    async def _client(self, workload: Workload, stop: asyncio.Event) -> None:
        """The mix, one transaction after another; each is retried, on any
        node, until a node acknowledges its commit (or says it is a duplicate
        of one that did): only then does the next go out."""
        while not stop.is_set():
            [tx] = workload.mix(1)
            while not await self._acknowledged(tx):     # each try is a round trip to a live node
                continue
            self.acknowledged.append(tx.id)

    async def _acknowledged(self, tx) -> bool:
        name = self.rng.choice([name for name in self.urls if name not in self.down])
        try:
            async with ShopchainClient(self.urls[name], timeout_s=10) as client:
                result = await client.call("tx_submit", tx=tx.raw.hex(), wait="commit")
                if result.get("height") and not result["ok"]:
                    self.report.failed[result["code"]] = self.report.failed.get(result["code"], 0) + 1
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
            if self.report.kills % PROGRESS_EVERY_KILLS == 0:
                print(f"{self.report.kills} kills, {len(self.acknowledged)} acknowledged", file=sys.stderr, flush=True)

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
        convergence = await converged(self.cluster)
        self.report.height, self.report.diverging_heights = convergence.height, convergence.diverging_heights
        clients = [ShopchainClient(url, timeout_s=10) for url in self.urls.values()]
        for client in clients:
            await client.__aenter__()
        try:
            for tx_id in self.acknowledged:
                for client in clients:
                    try:
                        await client.call("tx_get", id=tx_id)
                    except RpcCallError:
                        self.report.lost.append(tx_id)
                        break
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--kill-interval-s", type=float, default=2.0)
    parser.add_argument("--flood-s", type=float, default=60.0)
    parser.add_argument("--orders-per-client", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    config = SoakConfig(kills=args.kills, kill_interval_s=args.kill_interval_s, flood_s=args.flood_s,
                        orders_per_client=args.orders_per_client, seed=args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        report = Soak(Path(scratch) / "net", config).run()
    print(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
