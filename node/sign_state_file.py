"""The home's ``sign_state`` file: what this validator signed, durable before
any message leaves (docs/protocol.md, "Signing state"). It lives outside
``data/`` so losing the database never loses it. Written atomically: a
temporary file, fsync, rename, fsync of the folder. The file belongs to one
chain and one validator key, and never moves backwards."""
from __future__ import annotations

import os
from pathlib import Path

from consensus.sign_state import SignState, SignStateError


class SignStateFile:
    def __init__(self, path: Path, chain_id: str, validator: bytes) -> None:
        self.path = path
        self.chain_id = chain_id
        self.validator = validator
        self._last: SignState | None = None

    def create(self) -> None:
        """A new validator's empty state (what ``testnet init`` writes)."""
        self.write(SignState(self.chain_id, self.validator).encode())

    def declare(self, from_height: int) -> SignState:
        """Write the operator's declaration that this validator signed nothing
        at ``from_height`` or above (``SignState.declared``); refused when a
        file exists, since replacing one could move the floor back."""
        if self.path.exists():
            raise SignStateError("sign_state.exists",
                                 f"{self.path} exists: a declaration only replaces a lost file; keep this one")
        state = SignState.declared(self.chain_id, self.validator, from_height)
        _write_atomically(self.path, state.encode())
        self._last = state
        return state

    def read(self) -> SignState | None:
        """The state on disk, checked to be this validator's; None when the
        file is missing (the replica then recovers before it signs)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        state = SignState.upgrade_v1(raw, self.chain_id, self.validator) or SignState.decode(raw)
        state.check_owner(self.chain_id, self.validator)
        self._last = state
        return state

    def write(self, raw: bytes) -> SignState:
        """Make ``raw`` durable, refusing a state that moves the floor back;
        the state written."""
        new = SignState.decode(raw)
        new.check_owner(self.chain_id, self.validator)
        current = self._last if self._last is not None else self.read()
        if current is not None:
            current.check_successor(new)
        _write_atomically(self.path, raw)
        self._last = new
        return new


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
