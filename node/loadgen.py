"""The load generator: a pre-signed mix of transactions driven into a real
local cluster over JSON-RPC, counting only what commits with ``ok: true``.

The mix comes from the shared workload (node/workload.py): ``transfer``
(transfers between shoppers) or ``commerce`` (40 % transfers, 20 % coupon
purchases, 20 % orders, 10 % trace records, 10 % order confirmations). A
run derives fresh shoppers and merchants under its own label, has the admin
fund them, sets the marketplace up (registrations, roles, listings, coupon
batches, delivered orders to confirm), each step committed before the next;
then every transaction of the load is signed before the clock starts. They
go out in JSON-RPC batches to the nodes in turn at a steady rate, on the
clock rather than after the answer to the batch before (an open loop, as a
saturation grid needs: a node slow to answer must not lower the rate
offered to it), with at most ``IN_FLIGHT_MAX`` batches unanswered; a
``blocks`` subscription on one node tells when each block commits, and
``block_get`` which transactions it holds and how each ended. Commit latency
is the time from when a transaction's batch was due to leave (so a batch
held back by ``IN_FLIGHT_MAX`` counts its wait) to the notification of the
block that holds it.
"""
from __future__ import annotations

import asyncio
import collections
import json
import math
import random
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import aiohttp

from chain.genesis import Genesis, genesis_from_document
from chain.keys import KeyPair
from chain.transaction import SignedTransaction
from node.client import ShopchainClient
from node.workload import MERCHANTS, Workload, world_on

MIXES = ("transfer", "commerce")
# Calls per JSON-RPC batch: within the node's default rpc.batch_max (100).
BATCH_CALLS = 100
POLL_S = 0.2
IN_FLIGHT_MAX = 8        # batches sent and not yet answered; past it the next waits (and the rate sent falls)
TICK_S = 0.05            # a batch leaves at least this often (batch_schedule)
SET_UP_STEP_S = 60.0     # a set-up step not committed by then is reported, not waited for
SHOPPERS_PER_MERCHANT = 50

Progress = Callable[[int, int], None]    # (transactions submitted, of how many)


@dataclass(frozen=True, slots=True)
class LoadReport:
    mix: str
    accounts: int
    offered_tx_per_s: float
    sent_tx_per_s: float    # as sent: below the offered rate when IN_FLIGHT_MAX batches waited for answers
    submitted: int
    refused: int
    refused_codes: dict[str, int]      # why, by error code
    committed: int          # committed with ok: true
    failed: int             # committed with ok: false
    duration_s: float
    tx_per_s: float         # committed (ok) per second, from the first submission to the last such commit
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
    answers = answer if isinstance(answer, list) else [answer]
    return sorted(answers, key=lambda item: item["id"] if isinstance(item.get("id"), int) else -1)


async def _submit_batch(session: aiohttp.ClientSession, url: str, txs: list[SignedTransaction]) -> list[dict[str, Any]]:
    """Submit ``txs`` (at most BATCH_CALLS) in one JSON-RPC batch; answers in submission order."""
    if not txs:
        return []
    calls = [{"jsonrpc": "2.0", "id": i, "method": "tx_submit", "params": {"tx": tx.raw.hex(), "wait": "mempool"}}
             for i, tx in enumerate(txs)]
    return await _rpc_batch(session, url, calls)


async def _commit_in_order(session: aiohttp.ClientSession, url: str, blocks: list[list[SignedTransaction]]) -> None:
    """Commit each set-up block before the next (later ones need what earlier
    ones made), in chunks a sender's pending limit allows, each ending ok."""
    for block in blocks:
        for start in range(0, len(block), BATCH_CALLS):
            chunk = block[start:start + BATCH_CALLS]
            refused = [answer["error"] for answer in await _submit_batch(session, url, chunk) if "error" in answer]
            if refused:
                raise RuntimeError(f"the set-up was refused: {refused[0]['message']}")
            waiting = {tx.id for tx in chunk}
            deadline = time.monotonic() + SET_UP_STEP_S
            while waiting:
                if time.monotonic() > deadline:
                    lost = next(tx for tx in chunk if tx.id in waiting)
                    raise RuntimeError(f"{len(waiting)} set-up transactions are not committed after {SET_UP_STEP_S:g} s, "
                                       f"such as {lost.kind} {lost.id} of {lost.sender_address} (nonce {lost.nonce})")
                await asyncio.sleep(POLL_S)
                ids = sorted(waiting)
                calls = [{"jsonrpc": "2.0", "id": i, "method": "tx_get", "params": {"id": tx_id}} for i, tx_id in enumerate(ids)]
                for tx_id, answer in zip(ids, await _rpc_batch(session, url, calls)):
                    result = answer.get("result")
                    if result is None:
                        continue
                    if not result["ok"]:
                        raise RuntimeError(f"the set-up failed: {result['code']}: {result['message']}")
                    waiting.discard(tx_id)


def set_up_load(genesis: Genesis, admin: KeyPair, admin_nonce: int, label: str, mix: str, accounts: int, txs: int,
                seed: int | None = None) -> Workload:
    """A workload of ``accounts`` fresh shoppers (keys under ``label``) whose
    history funds and sets them up for ``txs`` transactions of ``mix``;
    ``admin_nonce`` is the admin's next nonce. One merchant for every
    SHOPPERS_PER_MERCHANT shoppers, as in a market: a few merchants would
    each send more than a sender may have pending."""
    merchants = max(MERCHANTS, accounts // SHOPPERS_PER_MERCHANT)
    workload = Workload(world_on(genesis, admin, label, accounts, merchants), random.Random(seed))
    workload.nonces[admin.public_key] = admin_nonce - 1
    workload.fund()
    workload.set_up(orders_to_confirm=txs // 10 + 1 if mix == "commerce" else 0)
    return workload


async def plan(rpc_url: str, admin: KeyPair, mix: str, accounts: int, txs: int,
               seed: int | None = None) -> tuple[list[list[SignedTransaction]], list[SignedTransaction]]:
    """The set-up blocks and the pre-signed load of ``txs`` transactions of
    ``mix`` from ``accounts`` fresh shoppers on the running chain."""
    if mix not in MIXES:
        raise ValueError(f"mix is one of {', '.join(MIXES)}")
    async with ShopchainClient(rpc_url) as client:
        genesis = genesis_from_document((await client.query("genesis_get"))["document"])
        admin_nonce = await client.next_nonce(admin.address)
    workload = set_up_load(genesis, admin, admin_nonce, f"load-{secrets.token_hex(6)}", mix, accounts, txs, seed)
    load = workload.mix(txs) if mix == "commerce" else workload.transfers(txs)
    return workload.history, load


async def run_load(rpc_urls: list[str], admin: KeyPair, accounts: int, txs: int, rate_per_s: float,
                   mix: str = "transfer", drain_s: float = 20.0, progress: Progress | None = None) -> LoadReport:
    set_up, signed = await plan(rpc_urls[0], admin, mix, accounts, txs)
    async with aiohttp.ClientSession() as session:
        await _commit_in_order(session, rpc_urls[0], set_up)
        submitted_at: dict[str, float] = {}
        committed_at: dict[str, tuple[float, bool]] = {}
        watcher = asyncio.get_running_loop().create_task(_watch_commits(session, rpc_urls[0], committed_at))
        refused, sent_tx_per_s = await _submit_steadily(session, rpc_urls, signed, rate_per_s, submitted_at, progress)
        refused_codes = dict(collections.Counter(refused))
        start = min(submitted_at.values(), default=time.monotonic())
        end_by = time.monotonic() + drain_s
        while time.monotonic() < end_by and not all(tx_id in committed_at for tx_id in submitted_at):
            await asyncio.sleep(0.1)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    ended = {tx_id: committed_at[tx_id] for tx_id in submitted_at if tx_id in committed_at}
    ok = {tx_id: moment for tx_id, (moment, succeeded) in ended.items() if succeeded}
    latencies = [1000 * (moment - submitted_at[tx_id]) for tx_id, moment in ok.items()]
    duration = max(max(ok.values(), default=start) - start, 1e-9)
    return LoadReport(mix, accounts, rate_per_s, round(sent_tx_per_s, 1), len(submitted_at), len(refused), refused_codes,
                      len(ok), len(ended) - len(ok), round(duration, 3), round(len(ok) / duration, 1),
                      round(percentile(latencies, 0.5), 1), round(percentile(latencies, 0.99), 1))


async def _submit_steadily(session: aiohttp.ClientSession, rpc_urls: list[str], signed: list[SignedTransaction],
                           rate_per_s: float, submitted_at: dict[str, float],
                           progress: Progress | None) -> tuple[list[str], float]:
    """Send ``signed`` in batches on a clock that gives ``rate_per_s``
    (``batch_schedule``), without waiting for answers while fewer than
    IN_FLIGHT_MAX are outstanding; returns the codes of those refused and the
    rate the batches left at. A transaction's submission time is when its
    batch was due, so time held back by IN_FLIGHT_MAX counts in its latency."""
    per_batch, interval_s = batch_schedule(rate_per_s)
    refused: list[str] = []
    failures: list[BaseException] = []
    answered = 0

    async def send(url: str, chunk: list[SignedTransaction], due: float) -> None:
        nonlocal answered
        answers = await _submit_batch(session, url, chunk)
        if len(answers) != len(chunk):    # the batch refused whole (one error object)
            refused.extend([_refusal_code(answers[0]) if answers else "bench.no_answer"] * len(chunk))
        else:
            for tx, answer in zip(chunk, answers):
                if "error" in answer:
                    refused.append(_refusal_code(answer))
                else:
                    submitted_at[tx.id] = due
        answered += len(chunk)
        if progress is not None:
            progress(answered, len(signed))

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())

    in_flight: set[asyncio.Task[None]] = set()
    started = last_sent = time.monotonic()
    try:
        for number, offset in enumerate(range(0, len(signed), per_batch)):
            while len(in_flight) >= IN_FLIGHT_MAX and not failures:
                await asyncio.wait(set(in_flight), return_when=asyncio.FIRST_COMPLETED)
            if failures:
                raise failures[0]
            due = started + number * interval_s
            last_sent = time.monotonic()
            task = asyncio.get_running_loop().create_task(
                send(rpc_urls[number % len(rpc_urls)], signed[offset:offset + per_batch], due))
            in_flight.add(task)
            task.add_done_callback(finished)
            delay = due + interval_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        sending_s = last_sent - started + interval_s
        await asyncio.gather(*in_flight, return_exceptions=True)
        if failures:
            raise failures[0]
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
    return refused, len(signed) / sending_s


def batch_schedule(rate_per_s: float) -> tuple[int, float]:
    """(transactions a batch, seconds between batches) that offer ``rate_per_s``:
    a batch at least every TICK_S (more often once BATCH_CALLS a tick fall
    short), or one transaction a batch below one a tick."""
    per_batch = min(BATCH_CALLS, max(1, math.floor(rate_per_s * TICK_S)))
    return per_batch, per_batch / rate_per_s


def _refusal_code(answer: dict[str, Any]) -> str:
    error = answer.get("error") or {}
    return (error.get("data") or {}).get("code") or str(error.get("code"))


async def _watch_commits(session: aiohttp.ClientSession, rpc_url: str, committed_at: dict[str, tuple[float, bool]]) -> None:
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
            block = answer[0]["result"]
            for tx_id, result in zip(block["txs"], block["results"]):
                committed_at.setdefault(tx_id, (seen, result["ok"]))
