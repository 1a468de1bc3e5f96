"""The block explorer at ``/``: one static page that reads the node's own /rpc."""
from __future__ import annotations

from importlib import resources

from aiohttp import web


def add_explorer_route(app: web.Application) -> None:
    page = resources.files("node").joinpath("static/explorer.html").read_text(encoding="utf-8")

    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/", handle)
