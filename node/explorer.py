"""The explorer: one page served at ``/`` and at every object's address
(``/block/H``, ``/order/ID``, …) so deep links load directly; the page's
module routes by the path and reads the node's own /rpc. The page and its
assets are sent with a Content Security Policy that runs only this
node's own scripts, so text users wrote on chain can never run as code;
it may read from any node the viewer chooses (connect-src), which is how
the page checks one node against another."""
from __future__ import annotations

import re
from importlib import resources

from aiohttp import web

# The addresses of object pages (node/static/explorer.js's PAGES).
OBJECT_PAGES = ("block", "tx", "account", "product", "order", "coupon-batch", "coupon", "trace", "contract")
# The page's files under /static/: its own, then the vendored libraries
# (node/static/vendor/README.md says where each came from).
ASSETS = {
    "explorer.js": "text/javascript", "explorer.css": "text/css", "badge.js": "text/javascript",
    "verify.js": "text/javascript", "dom.js": "text/javascript", "views.js": "text/javascript", "vendor/tweetnacl-1.0.3.js": "text/javascript",
    **{f"vendor/noble-hashes-2.0.1/{name}.js": "text/javascript" for name in ("sha2", "_md", "_u64", "utils")},
}
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self' http: https: ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")


def _static(name: str) -> str:
    return resources.files("node").joinpath(f"static/{name}").read_text(encoding="utf-8")


def add_explorer_route(app: web.Application) -> None:
    page = _static("explorer.html")
    assets = {name: (_static(name), content_type) for name, content_type in ASSETS.items()}
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}

    async def handle_page(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", headers=headers)

    async def handle_asset(request: web.Request) -> web.Response:
        text, content_type = assets[request.match_info["name"]]
        return web.Response(text=text, content_type=content_type, headers=headers)

    app.router.add_get("/", handle_page)
    for kind in OBJECT_PAGES:
        app.router.add_get(f"/{kind}/{{rest:.+}}", handle_page)
    app.router.add_get(f"/static/{{name:{'|'.join(re.escape(name) for name in ASSETS)}}}", handle_asset)
