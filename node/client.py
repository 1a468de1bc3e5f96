"""A typed Python client for a Shopchain node: sign, submit, wait, query, subscribe.

Used by the CLI, the demo, the load generator and the tests. It signs
locally (the seed never leaves the process), reads the next nonce over RPC,
and speaks the public contract of docs/protocol.md section 12 by name.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, TypeVar

import aiohttp

from chain.errors import CodedError
from chain.keys import KeyPair
from chain.kv import KeyValueReader
from chain.light import (STATE_PROOF_KEYS_MAX, ProvenTransaction, Trust, Verified, VerifyFailed, verify_state,
                         verify_transaction)
from commerce.keys import meta_key
from commerce.proven import keys_still_needed
from chain.transaction import SignedTransaction, build_transaction

WAIT_MODES = ("none", "mempool", "commit")
# Keys one verified getter may read, one round of proofs each (a trace of
# that many events, say): a bound on what a lying node can make it fetch.
ANSWER_BYTES_MAX = 64 * 1024 * 1024   # a page, a block's ids, a long trace: far below this
QUERY_PROOF_ROUNDS_MAX = 16      # rounds of proofs: how deep one key's value leads to the next
QUERY_PROOF_KEYS_MAX = 100_000   # keys one query may need proven (a trace of as many events)
T = TypeVar("T")


class RpcCallError(CodedError):
    """A node's answer that is an error, with the dotted code from
    ``error.data.code``; ``data`` is the raw error data."""

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(code, message)
        self.data = data


@dataclass(frozen=True, slots=True)
class SubmitResult:
    id: str
    height: int | None = None
    index: int | None = None
    ok: bool | None = None
    code: str = ""
    message: str = ""
    events: tuple[dict[str, Any], ...] = ()


class ShopchainClient:
    """One node's RPC URL (``http://127.0.0.1:26657/rpc``); use as an async context manager."""

    def __init__(self, rpc_url: str, timeout_s: float = 60.0) -> None:
        self.rpc_url = rpc_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> "ShopchainClient":
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, **params: Any) -> Any:
        """One JSON-RPC call by name; raises RpcCallError for an error answer."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = await self._post(body)
        if "error" in answer:
            raise _call_error(answer["error"])
        return answer["result"]

    async def _post(self, body: Any) -> Any:
        if self._session is None:
            raise RuntimeError("use ShopchainClient as 'async with'")
        try:
            async with self._session.post(self.rpc_url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as response:
                text = await self._answer_bytes(response)
        except (aiohttp.ClientError, OSError) as error:
            raise RpcCallError("client.unreachable", f"cannot reach {self.rpc_url}: {error}; is the node running?") from None
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise RpcCallError("client.bad_answer", f"{self.rpc_url} answered with something that is not JSON-RPC") from None

    async def _answer_bytes(self, response: aiohttp.ClientResponse) -> bytes:
        """The answer's body, read up to ANSWER_BYTES_MAX: a node that lies
        may answer without end, before anything could check what it says."""
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > ANSWER_BYTES_MAX:
                raise RpcCallError("client.bad_answer", f"{self.rpc_url} answered more than {ANSWER_BYTES_MAX} bytes; "
                                                        "no node answers that much: ask another node")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- transactions -------------------------------------------------------

    async def next_nonce(self, address: str) -> int:
        return int((await self.account_get(address))["next_nonce"])

    async def sign(self, key: KeyPair, kind: str, body: dict[str, Any], nonce: int | None = None) -> SignedTransaction:
        status = await self.chain_status()
        nonce = nonce if nonce is not None else await self.next_nonce(key.address)
        return build_transaction(key, status["chain_id"], nonce, kind, body)

    async def submit(self, tx: SignedTransaction, wait: str = "commit") -> SubmitResult:
        if wait not in WAIT_MODES:
            raise ValueError(f"wait is one of {WAIT_MODES}")
        result = await self.call("tx_submit", tx=tx.raw.hex(), wait=wait)
        return SubmitResult(
            id=result["id"], height=result.get("height"), index=result.get("index"), ok=result.get("ok"),
            code=result.get("code", ""), message=result.get("message", ""), events=tuple(result.get("events", ())),
        )

    async def send(self, key: KeyPair, kind: str, body: dict[str, Any], wait: str = "commit") -> SubmitResult:
        """Sign with the next nonce, submit, and (by default) wait for the commit."""
        return await self.submit(await self.sign(key, kind, body), wait)

    # -- queries (docs/protocol.md section 12) -------------------------------

    async def chain_status(self) -> dict[str, Any]:
        return await self.call("chain_status")

    async def account_get(self, address: str) -> dict[str, Any]:
        return await self.call("account_get", address=address)

    async def tx_get(self, tx_id: str) -> dict[str, Any]:
        return await self.call("tx_get", id=tx_id)

    async def block_get(self, height: int) -> dict[str, Any]:
        return await self.call("block_get", height=height)

    async def verify_state(self, trust: Trust, keys: list[bytes],
                           height: int | None = None) -> tuple[dict[bytes, bytes | None], Verified]:
        """The values of state ``keys`` (None: absent) as this node answers
        them, proven from ``trust`` alone (chain/light.py), at ``height`` when
        given; ``verify.failed`` when the answer does not prove them."""
        params: dict[str, Any] = {"keys": [key.hex() for key in keys]}
        if height is not None:
            params["height"] = height
        return verify_state(trust, await self.call("state_proof", **params), keys, height=height)

    async def verify_transaction(self, trust: Trust, tx_id: str) -> tuple[ProvenTransaction, Verified]:
        """A committed transaction and its result's proven fields, as this node
        answers proof_tx, proven from ``trust`` alone (chain/light.py)."""
        return verify_transaction(trust, await self.call("proof_tx", id=tx_id), tx_id)

    async def verify_query(self, trust: Trust, query: Callable[[KeyValueReader], T],
                           height: int | None = None) -> tuple[T, Verified]:
        """``query`` (one of commerce/queries.py's getters, bound to its id) run
        on state this node proves, all at one height: the height asked for, or
        the one the first answer proves (commerce/proven.py). Nothing it
        returns is taken on the node's word."""
        values: dict[bytes, bytes | None] = {}
        wanted = [meta_key("time_ms")]         # the block time, proven too, and a height to pin the rest to
        verified: Verified | None = None
        for _ in range(QUERY_PROOF_ROUNDS_MAX):
            for start in range(0, len(wanted), STATE_PROOF_KEYS_MAX):
                pinned = height if verified is None else verified.height
                proven, verified = await self.verify_state(trust, wanted[start:start + STATE_PROOF_KEYS_MAX], pinned)
                values.update(proven)
            wanted, result = keys_still_needed(query, values)
            if not wanted:
                return result, verified
            if len(values) + len(wanted) > QUERY_PROOF_KEYS_MAX:
                break
        raise VerifyFailed(f"the answer needs more than {QUERY_PROOF_ROUNDS_MAX} rounds or {QUERY_PROOF_KEYS_MAX} keys")

    async def query(self, method: str, **params: Any) -> Any:
        """Any getter or list method by its RPC name, e.g. ``query("order_get", order=...)``."""
        return await self.call(method, **params)

    # -- subscriptions --------------------------------------------------------

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        """Yield each notification of ``topic`` from the node's ``/ws``."""
        if self._session is None:
            raise RuntimeError("use ShopchainClient as 'async with'")
        ws_url = self.rpc_url.rsplit("/rpc", 1)[0] + "/ws"
        async with self._session.ws_connect(ws_url) as websocket:
            await websocket.send_json({"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topic": topic}})
            async for message in websocket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                payload = json.loads(message.data)
                if "error" in payload:
                    raise _call_error(payload["error"])
                if payload.get("method") == "notification":
                    yield payload["params"]


def _call_error(error: dict[str, Any]) -> RpcCallError:
    data = error.get("data")
    code = data.get("code") if isinstance(data, dict) and isinstance(data.get("code"), str) else "client.bad_answer"
    message = error.get("message", "")
    prefix = f"{code}: "
    return RpcCallError(code, message[len(prefix):] if message.startswith(prefix) else message, data)
