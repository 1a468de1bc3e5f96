"""The load generator offers its rate on the clock: a node slow to answer
does not hold the next batches back, up to IN_FLIGHT_MAX unanswered."""
from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

from chain.transaction import build_transaction
from node import loadgen
from tests.factories import seeded_key
from tests.waiting import eventually


class HoldingNode:
    """Answers no batch until ``release`` is set; counts what waits."""

    def __init__(self) -> None:
        self.batches = 0
        self.waiting = 0
        self.most_waiting = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        calls = json.loads(await request.text())
        self.batches += 1
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        await self.release.wait()
        self.waiting -= 1
        answers = [{"jsonrpc": "2.0", "id": call["id"], "result": {"id": str(call["id"])}} for call in calls]
        return web.json_response(answers)


async def serve(node: HoldingNode) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/rpc", node.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/rpc"


def test_batches_leave_on_the_clock_while_earlier_ones_wait_for_their_answer():
    key = seeded_key("loadgen")
    signed = [build_transaction(key, "shopchain-load", nonce, "funds.transfer", {"to": key.address, "amount": 1})
              for nonce in range(1, 2 * loadgen.IN_FLIGHT_MAX + 1)]

    async def scenario() -> tuple[list[str], float]:
        node = HoldingNode()
        runner, url = await serve(node)
        try:
            async with aiohttp.ClientSession() as session:
                # one transaction a batch; the answers are held until IN_FLIGHT_MAX batches wait
                sending = asyncio.get_running_loop().create_task(
                    loadgen._submit_steadily(session, [url], signed, 1 / loadgen.TICK_S, {}, None))
                await eventually(lambda: node.waiting == loadgen.IN_FLIGHT_MAX, deadline_s=30,
                                 what="IN_FLIGHT_MAX batches sent before any answer")
                assert node.batches == loadgen.IN_FLIGHT_MAX        # and no more while they wait
                node.release.set()
                refused, sent_per_s = await asyncio.wait_for(sending, 30)
        finally:
            await runner.cleanup()
        assert node.batches == len(signed) and node.most_waiting == loadgen.IN_FLIGHT_MAX
        return refused, sent_per_s

    refused, sent_per_s = asyncio.run(scenario())
    assert refused == [] and sent_per_s > 0
