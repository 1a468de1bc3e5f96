"""What a client can still make the chain carry for free, past admission.

A 4-validator local testnet (real processes on 127.0.0.1). With open
registration every fresh key may register itself, and a registered key's
well-formed transactions pass admission even when they will fail (a transfer
with no funds): each is carried, executed and stored as a failed result at
no cost to its sender. The spammer here does exactly that from one address
(127.0.0.2), as fast as the nodes accept: per fresh key, ``account.register``
then ``PER_KEY - 1`` transfers it cannot pay, in JSON-RPC batches sent to
the nodes in turn. It also sends what admission refuses (unknown kinds from
unregistered keys) and counts that none of it is carried.

Figures: committed free transactions and new accounts per second, the share
refused (and why), and the bound each cap sets.
"""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.timing import Measurement
from chain.keys import KeyPair
from chain.transaction import build_transaction
from node.client import ShopchainClient
from node.cluster import running_cluster
from node.testnet import init_testnet
from tests.cluster.clusterutil import free_port_base

DURATION_S = 20.0
PER_KEY = 10
BATCH_CALLS = 100
SOURCE = "127.0.0.2"


def _batch(chain_id: str, keys: list[KeyPair], target: str) -> list[dict]:
    calls = []
    for key in keys:
        calls.append(build_transaction(key, chain_id, 1, "account.register", {"name": "spam"}))
        calls += [build_transaction(key, chain_id, nonce, "funds.transfer", {"to": target, "amount": 1})
                  for nonce in range(2, PER_KEY + 1)]
    junk = KeyPair.generate()
    calls.append(build_transaction(junk, chain_id, 1, "spam.unknown", {"x": 1}))
    return [{"jsonrpc": "2.0", "id": i, "method": "tx_submit", "params": {"tx": tx.raw.hex()}} for i, tx in enumerate(calls)]


async def _spam(urls: list[str], chain_id: str, stats: dict) -> None:
    target = KeyPair.generate().address
    connector = aiohttp.TCPConnector(local_addr=(SOURCE, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        end = time.monotonic() + DURATION_S
        turn = 0
        while time.monotonic() < end:
            calls = _batch(chain_id, [KeyPair.generate() for _ in range((BATCH_CALLS - 1) // PER_KEY)], target)
            async with session.post(urls[turn % len(urls)], data=json.dumps(calls)) as response:
                answer = await response.json()
            turn += 1
            if isinstance(answer, dict):                       # the whole batch refused (429)
                code = answer["error"]["data"]["code"]
                stats[code] = stats.get(code, 0) + len(calls)
                await asyncio.sleep(0.05)
                continue
            for item in answer:
                code = item["error"]["data"]["code"] if "error" in item else "admitted"
                stats[code] = stats.get(code, 0) + 1


async def _carried(url: str, first: int, last: int) -> dict:
    counts = {"txs": 0, "failed": 0, "registered": 0, "unknown_kind": 0}
    async with ShopchainClient(url) as client:
        for height in range(first, last + 1):
            block = await client.block_get(height)
            for tx_id in block["txs"]:
                result = await client.call("tx_get", id=tx_id)
                counts["txs"] += 1
                counts["failed"] += not result["ok"]
                counts["registered"] += result["ok"] and any(e.get("kind") == "account.registered" for e in result["events"])
                counts["unknown_kind"] += result["code"] == "tx.unknown_kind"
    return counts


async def _drained(urls: list[str], deadline_s: float = 60.0) -> None:
    """Wait until no node holds a pending transaction."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        sizes = []
        for url in urls:
            async with ShopchainClient(url) as client:
                sizes.append((await client.chain_status())["mempool_size"])
        if not any(sizes):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"mempools still hold transactions after {deadline_s} s")


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        testnet = init_testnet(Path(scratch) / "net", 4, free_port_base(8), "shopchain-spam")
        with running_cluster(testnet):
            urls = [node.rpc_url for node in testnet.nodes]

            async def measure() -> dict:
                async with ShopchainClient(urls[0]) as client:
                    first = (await client.chain_status())["height"] + 1
                stats: dict = {}
                started = time.monotonic()
                await _spam(urls, testnet.chain_id, stats)
                await _drained(urls)                           # every admitted one committed (or dropped)
                elapsed = time.monotonic() - started
                async with ShopchainClient(urls[0]) as client:
                    last = (await client.chain_status())["height"]
                carried = await _carried(urls[0], first, last)
                return {"seconds": round(elapsed, 1), "answers": stats, "carried": carried,
                        "free_tx_per_s": round(carried["failed"] / elapsed, 1),
                        "new_accounts_per_s": round(carried["registered"] / elapsed, 1)}

            return asyncio.run(measure())


def run() -> list[Measurement]:
    report = one_run()
    print(f"  run: {json.dumps(report, sort_keys=True)}")
    return [Measurement("spam: us per free (failed) tx carried", [1e6 / max(report["free_tx_per_s"], 1e-9)])]
