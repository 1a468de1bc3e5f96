"""A fake node's /rpc on 127.0.0.1 in a background thread, for CLI tests
that run the real `shopchain` process against canned answers."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable

from aiohttp import web

from node.http_api import add_http_api
from node.jsonrpc import Method, MethodTable, Param
from node.rpc_gate import RpcGate
from node.subscriptions import SubscriptionHub


class FakeNode:
    def __init__(self, methods: dict[str, tuple[list[str], Callable[..., Awaitable[Any]]]]) -> None:
        self._methods = methods
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = ""
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> "FakeNode":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake node did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        table = MethodTable("fake", "1", 10)
        for name, (params, handler) in self._methods.items():
            table.add(Method(name, name, tuple(Param(p, {}, p, required=False) for p in params), {}, self._recording(name, handler)))
        app = web.Application()
        add_http_api(app, table, SubscriptionHub(4), 1 << 20, RpcGate(64, 64, 1000.0, 1000))
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", 0).start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/rpc"
        self._ready.set()
        self._loop.run_forever()

    def _recording(self, name: str, handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(**params: Any) -> Any:
            self.calls.append((name, params))
            return await handler(**params)

        return call
