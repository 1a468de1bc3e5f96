"""The load generator offers its rate on the clock: a node slow to answer
does not hold the next batches back, up to IN_FLIGHT_MAX unanswered."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from chain.transaction import build_transaction
from node import loadgen
from tests.factories import seeded_key
from tests.waiting import eventually

KEY = seeded_key("loadgen")


def transfers(count: int) -> list:
    return [build_transaction(KEY, "shopchain-load", nonce, "funds.transfer", {"to": KEY.address, "amount": 1})
            for nonce in range(1, count + 1)]


class HoldingNode:
    """Answers no batch until ``release`` is set; counts what waits.
    ``whole``: the answer to every batch, instead of one per call."""

    def __init__(self, whole: dict | None = None) -> None:
        self.batches = 0
        self.waiting = 0
        self.most_waiting = 0
        self.release = asyncio.Event()
        self.whole = whole

    async def handle(self, request: web.Request) -> web.Response:
        calls = json.loads(await request.text())
        self.batches += 1
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        await self.release.wait()
        self.waiting -= 1
        if self.whole is not None:
            return web.json_response(self.whole)
        return web.json_response([{"jsonrpc": "2.0", "id": call["id"], "result": {"id": str(call["id"])}}
                                  for call in calls])


async def serve(node: HoldingNode) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/rpc", node.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/rpc"


def test_batches_leave_on_the_clock_while_earlier_ones_wait_but_no_more_than_the_cap(monkeypatch):
    monkeypatch.setattr(loadgen, "TICK_S", 0.001)      # one transaction a batch, a batch a millisecond
    signed = transfers(2 * loadgen.IN_FLIGHT_MAX)

    async def scenario() -> None:
        node = HoldingNode()
        runner, url = await serve(node)
        try:
            async with aiohttp.ClientSession() as session:
                sending = asyncio.get_running_loop().create_task(
                    loadgen._submit_steadily(session, [url], signed, 1000, {}, None))
                await eventually(lambda: node.waiting == loadgen.IN_FLIGHT_MAX, deadline_s=30,
                                 what="IN_FLIGHT_MAX batches sent before any answer")
                with pytest.raises(AssertionError):       # 300 more due times pass: none leaves
                    await eventually(lambda: node.batches > loadgen.IN_FLIGHT_MAX, deadline_s=0.3)
                node.release.set()
                refused, sent_per_s = await asyncio.wait_for(sending, 30)
        finally:
            await runner.cleanup()
        assert node.batches == len(signed) and node.most_waiting == loadgen.IN_FLIGHT_MAX
        assert refused == [] and 0 < sent_per_s <= 1000

    asyncio.run(scenario())


def test_a_batch_refused_whole_counts_every_transaction_refused():
    busy = {"jsonrpc": "2.0", "id": None,
            "error": {"code": -32005, "message": "busy", "data": {"code": "rpc.too_many_requests"}}}
    signed = transfers(30)

    async def scenario() -> tuple[list[str], dict]:
        node = HoldingNode(whole=busy)
        node.release.set()
        runner, url = await serve(node)
        submitted: dict[str, float] = {}
        try:
            async with aiohttp.ClientSession() as session:
                refused, _ = await loadgen._submit_steadily(session, [url], signed, 300, submitted, None)
        finally:
            await runner.cleanup()
        return refused, submitted

    refused, submitted = asyncio.run(scenario())
    assert refused == ["rpc.too_many_requests"] * len(signed) and submitted == {}


@given(st.floats(min_value=0.5, max_value=1e6))
def test_the_schedule_offers_the_rate_asked(rate_per_s):
    per_batch, interval_s = loadgen.batch_schedule(rate_per_s)
    assert 1 <= per_batch <= loadgen.BATCH_CALLS
    assert per_batch / interval_s == pytest.approx(rate_per_s)
    assert interval_s <= loadgen.TICK_S + 1e-12 or per_batch == 1   # a batch at least every tick, unless one is too many


def test_rates_past_a_full_batch_a_tick_send_more_often():
    assert loadgen.batch_schedule(2500) == (100, 0.04)
    assert loadgen.batch_schedule(2000) == (100, 0.05)
    assert loadgen.batch_schedule(1050) == (52, 52 / 1050)
    assert loadgen.batch_schedule(10) == (1, 0.1)
