"""The load generator: pre-signed transfers driven into a real local cluster
over JSON-RPC, counting only what commits.

Accounts are registered and funded by the admin first; then every transfer
is signed before the clock starts. Transactions go out in JSON-RPC batches
to the nodes in turn at a steady rate; a ``blocks`` subscription on one node
tells when each block commits, and ``block_get`` which transactions it holds.
Commit latency is the time from a transaction's submission to the
notification of the block that holds it.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from chain.keys import KeyPair
from chain.transaction import SignedTransaction, build_transaction
from node.client import ShopchainClient

FUNDING = 10**9
# Calls per JSON-RPC batch: within the node's default rpc.batch_max (100).
BATCH_CALLS = 100


@dataclass(frozen=True, slots=True)
class LoadReport:
    accounts: int
    submitted: int
    refused: int
    committed: int
    duration_s: float
    tx_per_s: float
    latency_ms_p50: float
    latency_ms_p99: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _rpc_batch(session: aiohttp.ClientSession, url: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with session.post(url, data=json.dumps(calls), headers={"Content-Type": "application/json"}) as response:
        answer = await response.json()
    return answer if isinstance(answer, list) else [answer]


async def _submit_batch(session: aiohttp.ClientSession, url: str, txs: list[SignedTransaction]) -> list[dict[str, Any]]:
    """Submit ``txs`` (at most BATCH_CALLS) in one JSON-RPC batch; answers in submission order."""
    if not txs:
        return []
    calls = [{"jsonrpc": "2.0", "id": i, "method": "tx_submit", "params": {"tx": tx.raw.hex(), "wait": "mempool"}}
             for i, tx in enumerate(txs)]
    answers = await _rpc_batch(session, url, calls)
    return sorted(answers, key=lambda answer: answer["id"] if isinstance(answer.get("id"), int) else -1)


async def _fund(session: aiohttp.ClientSession, url: str, admin: KeyPair, accounts: list[KeyPair]) -> None:
    async with ShopchainClient(url) as client:
        status = await client.chain_status()
        nonce = await client.next_nonce(admin.address)
    txs: list[SignedTransaction] = []
    for key in accounts:
        for kind, body in (("account.register", {"name": "load", "account": key.address}),
                           ("funds.mint", {"to": key.address, "amount": FUNDING})):
            txs.append(build_transaction(admin, status["chain_id"], nonce, kind, body))
            nonce += 1
    # A sender may have at most a bounded run of nonces pending: fund in
    # chunks, each waited for until its last transaction commits.
    for start in range(0, len(txs), BATCH_CALLS):
        chunk = txs[start:start + BATCH_CALLS]
        refused = [a for a in await _submit_batch(session, url, chunk[:-1]) if "error" in a]
        if refused:
            raise RuntimeError(f"funding refused: {refused[0]['error']['message']}")
        async with ShopchainClient(url) as client:
            result = await client.submit(chunk[-1], wait="commit")
        if not result.ok:
            raise RuntimeError(f"funding failed: {result.code}: {result.message}")


async def run_load(rpc_urls: list[str], admin: KeyPair, accounts: int, txs: int, rate_per_s: float,
                   drain_s: float = 20.0) -> LoadReport:
    keys = [KeyPair.generate() for _ in range(accounts)]
    async with aiohttp.ClientSession() as session:
        await _fund(session, rpc_urls[0], admin, keys)
        async with ShopchainClient(rpc_urls[0]) as client:
            chain_id = (await client.chain_status())["chain_id"]
        signed = [build_transaction(keys[i % accounts], chain_id, i // accounts + 1, "funds.transfer",
                                    {"to": keys[(i + 1) % accounts].address, "amount": 1}) for i in range(txs)]
        submitted_at: dict[str, float] = {}
        committed_at: dict[str, float] = {}
        watcher = asyncio.get_running_loop().create_task(_watch_commits(session, rpc_urls[0], committed_at))
        refused = await _submit_steadily(session, rpc_urls, signed, rate_per_s, submitted_at)
        start = min(submitted_at.values(), default=time.monotonic())
        end_by = time.monotonic() + drain_s
        while time.monotonic() < end_by and not all(tx_id in committed_at for tx_id in submitted_at):
            await asyncio.sleep(0.1)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    latencies = [1000 * (committed_at[tx_id] - sent) for tx_id, sent in submitted_at.items() if tx_id in committed_at]
    last_commit = max((committed_at[tx_id] for tx_id in submitted_at if tx_id in committed_at), default=start)
    duration = max(last_commit - start, 1e-9)
    committed = len(latencies)
    return LoadReport(accounts, len(submitted_at), refused, committed, round(duration, 3), round(committed / duration, 1),
                      round(percentile(latencies, 0.5), 1), round(percentile(latencies, 0.99), 1))


async def _submit_steadily(session: aiohttp.ClientSession, rpc_urls: list[str], signed: list[SignedTransaction],
                           rate_per_s: float, submitted_at: dict[str, float]) -> int:
    """Send ``signed`` in batches every 50 ms so the rate holds; returns how many were refused."""
    tick_s = 0.05
    per_tick = min(BATCH_CALLS, max(1, int(rate_per_s * tick_s)))
    refused = 0
    started = time.monotonic()
    for number, offset in enumerate(range(0, len(signed), per_tick)):
        chunk = signed[offset:offset + per_tick]
        url = rpc_urls[number % len(rpc_urls)]
        sent = time.monotonic()
        answers = await _submit_batch(session, url, chunk)
        for tx, answer in zip(chunk, answers):
            if "error" in answer:
                refused += 1
            else:
                submitted_at[tx.id] = sent
        delay = started + (number + 1) * tick_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return refused


async def _watch_commits(session: aiohttp.ClientSession, rpc_url: str, committed_at: dict[str, float]) -> None:
    ws_url = rpc_url.rsplit("/rpc", 1)[0] + "/ws"
    async with session.ws_connect(ws_url) as websocket:
        await websocket.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topic": "blocks"}})
        async for message in websocket:
            payload = json.loads(message.data)
            if payload.get("method") != "notification":
                continue
            seen = time.monotonic()
            height = payload["params"]["height"]
            answer = await _rpc_batch(session, rpc_url, [{"jsonrpc": "2.0", "id": 1, "method": "block_get", "params": {"height": height}}])
            for tx_id in answer[0]["result"]["txs"]:
                committed_at.setdefault(tx_id, seen)
