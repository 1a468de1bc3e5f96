"""A JSON-RPC proxy between a client and a real node that alters the
node's answers: the light client must fail, never print the altered value."""
from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Callable

import aiohttp
from aiohttp import web

from tests.cluster.clusterutil import free_port_base

Lie = Callable[[str, dict[str, Any]], None]   # (method, result) -> alters the result in place


class LyingProxy:
    """Serves /rpc on 127.0.0.1 from its own thread; ``lie`` is applied to
    every successful answer it forwards."""

    def __init__(self, target: str, lie: Lie) -> None:
        self.target, self.lie = target, lie
        self.port = free_port_base(1)
        self.url = f"http://127.0.0.1:{self.port}/rpc"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "LyingProxy":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the lying proxy did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/rpc", self._forward)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with aiohttp.ClientSession() as session:
            async with session.post(self.target, data=body, headers={"Content-Type": "application/json"}) as answer:
                payload = await answer.json()
        if "result" in payload:
            self.lie(json.loads(body)["method"], payload["result"])
        return web.json_response(payload)
