"""The home's ``sign_state`` file: what this validator signed, durable before
any message leaves (docs/protocol.md, "Signing state"). It lives outside
``data/`` so losing the database never loses it. The file belongs to one
chain and one validator key, and never moves backwards.

The file is a log: a header line, then a frame for each state written
(length, SHA-256 of the state, the state), the newest whole frame being the
state. A vote's write appends a frame and waits for one ``fdatasync``; a
crash in the middle leaves a torn last frame, which reading skips (the vote
that write would have allowed never left) and the next write cuts off. The
file is written whole instead — a temporary file, fsync, rename, fsync of
the folder — when it is new, of an earlier format, would pass
``LOG_BYTES_MAX``, or no longer ends in the frame last written here
(something replaced it).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from consensus.sign_state import SignState, SignStateError

LOG_HEADER = b"shopchain-sign-state-log/3\n"
LOG_BYTES_MAX = 1 << 20
_LENGTH_BYTES = 4
_FRAME_HEAD_BYTES = _LENGTH_BYTES + 32


class SignStateFile:
    def __init__(self, path: Path, chain_id: str, validator: bytes) -> None:
        self.path = path
        self.chain_id = chain_id
        self.validator = validator
        self._last: SignState | None = None
        # The newest frame as this object last read or wrote it: where it
        # starts and its head (length and hash). None: write the file whole.
        self._newest: tuple[int, bytes] | None = None

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
        self._store(state.encode(), whole=True)
        self._last = state
        return state

    def read(self) -> SignState | None:
        """The state on disk, checked to be this validator's; None when the
        file is missing (the replica then recovers before it signs)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if data.startswith(LOG_HEADER):
            start = _newest_frame_start(data)
            self._newest = (start, data[start:start + _FRAME_HEAD_BYTES])
            state = SignState.decode(data[start + _FRAME_HEAD_BYTES:_frame_end(start, self._newest[1])])
        else:
            self._newest = None
            state = SignState.upgrade_v1(data, self.chain_id, self.validator) or SignState.decode(data)
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
        self._store(raw, whole=False)
        self._last = new
        return new

    def _store(self, raw: bytes, whole: bool) -> None:
        head = len(raw).to_bytes(_LENGTH_BYTES, "big") + hashlib.sha256(raw).digest()
        if not whole and self._newest is not None:
            offset = _frame_end(*self._newest)
            if offset + len(head) + len(raw) <= LOG_BYTES_MAX and _append(self.path, self._newest, head + raw):
                self._newest = (offset, head)
                return
        _write_atomically(self.path, LOG_HEADER + head + raw)
        self._newest = (len(LOG_HEADER), head)


def _frame_end(start: int, head: bytes) -> int:
    """Where the frame at ``start`` whose head (its length first) is ``head`` ends."""
    return start + _FRAME_HEAD_BYTES + int.from_bytes(head[:_LENGTH_BYTES], "big")


def _newest_frame_start(data: bytes) -> int:
    """Where the log's newest whole frame starts."""
    newest = None
    start = len(LOG_HEADER)
    while start + _FRAME_HEAD_BYTES <= len(data):
        end = _frame_end(start, data[start:start + _LENGTH_BYTES])
        if end > len(data) or hashlib.sha256(data[start + _FRAME_HEAD_BYTES:end]).digest() != \
                data[start + _LENGTH_BYTES:start + _FRAME_HEAD_BYTES]:
            break   # a frame a crash tore: the ones before it stand
        newest, start = start, end
    if newest is None:
        raise SignStateError("consensus.bad_sign_state", "the sign_state file holds no whole record; move it aside "
                             "(never put an older copy back) and start the node, which recovers before it signs")
    return newest


def _append(path: Path, newest: tuple[int, bytes], frame: bytes) -> bool:
    """Write ``frame`` after the newest frame (its start and head), cutting
    off what a torn write left there, and wait for the disk; False, writing
    nothing, when the file no longer holds that frame (something replaced it)."""
    newest_at, newest_head = newest
    offset = _frame_end(newest_at, newest_head)
    try:
        handle = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(handle).st_size
        if size < offset or os.pread(handle, _FRAME_HEAD_BYTES, newest_at) != newest_head:
            return False
        if size != offset:
            os.ftruncate(handle, offset)
        os.pwrite(handle, frame, offset)
        os.fdatasync(handle)
        return True
    finally:
        os.close(handle)


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
