"""Typed reads and writes of packed records over a state (an Overlay or any reader)."""
from __future__ import annotations

from typing import Any

from chain.encoding import pack, unpack_trusted
from chain.genesis import DEFAULT_PARAMS
from chain.kv import KeyValueReader
from commerce.keys import meta_key, param_key
from commerce.overlay import Overlay


def get_record(state: KeyValueReader, key: bytes) -> Any | None:
    """A record this chain wrote: state holds only canonical records, so the
    strict checks meant for outside bytes are skipped."""
    raw = state.get(key)
    return None if raw is None else unpack_trusted(raw)


def put_record(state: Overlay, key: bytes, record: Any) -> None:
    state.put(key, pack(record))


def get_param(state: KeyValueReader, name: str) -> Any:
    value = get_record(state, param_key(name))
    return DEFAULT_PARAMS[name] if value is None else value


def get_params(state: KeyValueReader) -> dict[str, Any]:
    return {name: get_param(state, name) for name in DEFAULT_PARAMS}


def get_meta(state: KeyValueReader, name: str) -> Any:
    """Genesis facts: ``treasury`` (address), ``validators`` and ``admins`` (lists)."""
    return get_record(state, meta_key(name))
