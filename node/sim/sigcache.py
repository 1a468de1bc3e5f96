"""A process-wide cache of Ed25519 verification results, shared by simulated replicas.

A signature is checked once in the process, and every
replica still makes every check (the cached answer is the answer the check
gives, for the same key, message and signature; a failed check stays failed).
It is installed by patching ``verify_signature`` where the chain and consensus
modules imported it, and removed on exit.
"""
from __future__ import annotations

import contextlib
import importlib
from typing import Iterator

import chain.keys

MODULES = ("chain.keys", "chain.signing", "chain.votes", "chain.transaction", "consensus.messages")
ENTRIES_MAX = 1_000_000

_ORIGINAL = chain.keys.verify_signature
_cache: dict[tuple[bytes, bytes, bytes], bool] = {}
_depth = 0


def cached_verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    key = (public_key, message, signature)
    answer = _cache.get(key)
    if answer is None:
        if len(_cache) >= ENTRIES_MAX:
            _cache.clear()
        answer = _cache[key] = _ORIGINAL(public_key, message, signature)
    return answer


@contextlib.contextmanager
def shared_signature_cache() -> Iterator[None]:
    global _depth
    modules = [importlib.import_module(name) for name in MODULES]
    _depth += 1
    if _depth == 1:
        for module in modules:
            module.verify_signature = cached_verify_signature
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            for module in modules:
                module.verify_signature = _ORIGINAL
            _cache.clear()
