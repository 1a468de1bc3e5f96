"""JSON-RPC 2.0 over one method table that both dispatches and describes.

The table is the single source: ``dispatch`` routes requests through it and
``openrpc_document`` (served by ``rpc.discover``) is generated from it, so
the document can never list a method the node does not serve or miss one it
does. Params are taken by name or by position. A failure of the caller's
making is a CodedError from the handler, answered as one application error
with the dotted code in ``error.data.code``; anything else is a bug of ours,
logged and answered as -32603.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from chain.errors import CodedError

log = logging.getLogger("shopchain.rpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# One application error code for every failure with a dotted code in data.
APPLICATION_ERROR = -32000
# The standard errors carry a dotted code in data too, so a client reads
# error.data.code whatever went wrong.
STANDARD_CODES = {
    PARSE_ERROR: "rpc.parse_error",
    INVALID_REQUEST: "rpc.invalid_request",
    METHOD_NOT_FOUND: "rpc.method_not_found",
    INVALID_PARAMS: "rpc.invalid_params",
    INTERNAL_ERROR: "rpc.internal_error",
}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}

Handler = Callable[..., Awaitable[Any]]

# How deep a request may nest arrays and objects. A JSON-RPC call needs about
# five levels; the bound keeps every later walk of the request shallow.
JSON_DEPTH_MAX = 32


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str
    required: bool = True


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    summary: str
    params: tuple[Param, ...]
    result: dict[str, Any]
    handler: Handler


class RpcError(Exception):
    """A protocol-level error with its JSON-RPC code."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data if data is not None else ({"code": STANDARD_CODES[code]} if code in STANDARD_CODES else None)

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def coded(code: str, message: str, json_code: int = APPLICATION_ERROR) -> RpcError:
    return RpcError(json_code, f"{code}: {message}", {"code": code})


class MethodTable:
    def __init__(self, title: str, version: str, batch_max: int,
                 on_rejection: Callable[[str], None] = lambda code: None) -> None:
        self._title = title
        self._version = version
        self._batch_max = batch_max
        self._on_rejection = on_rejection   # told the dotted code of every error answered
        self._methods: dict[str, Method] = {}
        self.add(Method("rpc.discover", "The OpenRPC document of this node's API.", (), {"type": "object"}, self._discover))

    def add(self, method: Method) -> None:
        if method.name in self._methods:
            raise ValueError(f"method {method.name} registered twice")
        self._methods[method.name] = method

    @property
    def names(self) -> list[str]:
        return sorted(self._methods)

    async def dispatch(self, body: bytes) -> Any | None:
        """The response object (or list, for a batch) to ``body``; None when
        nothing is to be answered (only notifications)."""
        try:
            payload = load_json(body)
        except RpcError as error:
            return self.refuse(None, error)
        return await self.dispatch_payload(payload)

    async def dispatch_payload(self, payload: Any) -> Any | None:
        """``dispatch`` of a body already parsed with ``load_json``."""
        if isinstance(payload, list):
            return await self._dispatch_batch(payload)
        return await self._dispatch_one(payload)

    async def _dispatch_batch(self, batch: list[Any]) -> Any | None:
        if not batch:
            return self.refuse(None, RpcError(INVALID_REQUEST, "invalid request: an empty batch"))
        if len(batch) > self._batch_max:
            error = coded("rpc.batch_too_large", f"a batch holds at most {self._batch_max} calls; split it", INVALID_REQUEST)
            return self.refuse(None, error)
        responses = [await self._dispatch_one(item) for item in batch]
        answered = [response for response in responses if response is not None]
        return answered or None

    async def _dispatch_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            return self.refuse(None, RpcError(INVALID_REQUEST, "invalid request: expected {\"jsonrpc\": \"2.0\", \"method\": ..., \"id\": ...}"))
        request_id = request.get("id")
        is_notification = "id" not in request
        if not is_notification and not (request_id is None or isinstance(request_id, (str, int)) and not isinstance(request_id, bool)):
            return self.refuse(None, RpcError(INVALID_REQUEST, "invalid request: id must be a string, a number or null"))
        try:
            result = await self._call(request["method"], request.get("params", {}))
        except RpcError as error:
            return None if is_notification else self.refuse(request_id, error)
        except CodedError as error:
            return None if is_notification else self.refuse(request_id, coded(error.code, error.message))
        except Exception:  # a bug of ours: log it, answer -32603, keep serving
            log.exception("method %s failed", request["method"])
            return None if is_notification else self.refuse(request_id, RpcError(INTERNAL_ERROR, "internal error"))
        return None if is_notification else {"jsonrpc": "2.0", "id": request_id, "result": result}

    def refuse(self, request_id: Any, error: RpcError) -> dict[str, Any]:
        """The error response to a request, counted as a rejection by its code."""
        if error.data is not None and isinstance(error.data.get("code"), str):
            self._on_rejection(error.data["code"])
        return _error_response(request_id, error)

    async def _call(self, name: str, params: Any) -> Any:
        method = self._methods.get(name)
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {name}; rpc.discover lists the methods")
        return await method.handler(**_bind(method, params))

    async def _discover(self) -> dict[str, Any]:
        return self.openrpc_document()

    def openrpc_document(self) -> dict[str, Any]:
        return {
            "openrpc": "1.2.6",
            "info": {"title": self._title, "version": self._version},
            "methods": [_describe(self._methods[name]) for name in self.names],
        }


def load_json(text: bytes | str, depth_max: int = JSON_DEPTH_MAX) -> Any:
    """A client's JSON, or RpcError: -32700 when it is not JSON, -32600 when
    it nests deeper than ``depth_max`` (however deep: the parser's own
    recursion limit is caught too) or holds a string that is not Unicode text (a lone
    surrogate escape such as ``"\\ud800"``, which no handler could encode)."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    except _NotFinite:
        raise RpcError(INVALID_REQUEST, "invalid request: a number is out of range (Infinity, NaN or beyond 1e308)") from None
    except (ValueError, UnicodeDecodeError):
        raise RpcError(PARSE_ERROR, "parse error: the body is not JSON") from None
    except RecursionError:
        raise _too_deep(depth_max) from None
    _check_json(value, depth_max)
    return value


class _NotFinite(Exception):
    """A number JSON cannot carry back: the answer, which may echo it, would not be JSON."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _not_a_number(text: str) -> float:
    raise _NotFinite(text)


def _too_deep(depth_max: int) -> RpcError:
    return RpcError(INVALID_REQUEST, f"invalid request: the JSON nests deeper than {depth_max} levels")


def _check_json(value: Any, depth_max: int) -> None:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (list, dict)):
            if depth > depth_max:
                raise _too_deep(depth_max)
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RpcError(INVALID_REQUEST, "invalid request: a string holds a lone surrogate (\\ud800-\\udfff); send Unicode text") from None


def _bind(method: Method, params: Any) -> dict[str, Any]:
    if isinstance(params, list):
        if len(params) > len(method.params):
            raise RpcError(INVALID_PARAMS, f"invalid params: {method.name} takes at most {len(method.params)} parameters")
        params = {spec.name: value for spec, value in zip(method.params, params)}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "invalid params: params are an object (by name) or an array (by position)")
    known = {spec.name: spec for spec in method.params}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise RpcError(INVALID_PARAMS, f"invalid params: unknown parameter(s) {', '.join(unknown)} for {method.name}")
    for spec in method.params:
        if spec.name not in params:
            if spec.required:
                raise RpcError(INVALID_PARAMS, f"invalid params: {method.name} needs {spec.name}")
            continue
        _check_value(spec, params[spec.name])
    return params


def _check_value(spec: Param, value: Any) -> None:
    expected = spec.schema.get("type")
    allowed = _JSON_TYPES.get(expected, ()) if isinstance(expected, str) else ()
    if allowed and (not isinstance(value, allowed) or (expected == "integer" and isinstance(value, bool))):
        raise RpcError(INVALID_PARAMS, f"invalid params: {spec.name} must be of type {expected}")
    if "enum" in spec.schema and value not in spec.schema["enum"]:
        raise RpcError(INVALID_PARAMS, f"invalid params: {spec.name} must be one of {', '.join(map(str, spec.schema['enum']))}")
    if expected == "integer" and "minimum" in spec.schema and value < spec.schema["minimum"]:
        raise RpcError(INVALID_PARAMS, f"invalid params: {spec.name} must be at least {spec.schema['minimum']}")


def _describe(method: Method) -> dict[str, Any]:
    return {
        "name": method.name,
        "summary": method.summary,
        "paramStructure": "either",
        "params": [
            {"name": p.name, "description": p.description, "required": p.required, "schema": p.schema} for p in method.params
        ],
        "result": {"name": "result", "schema": method.result},
    }


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
