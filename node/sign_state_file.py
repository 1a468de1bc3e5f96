"""The home's ``sign_state`` file: what this validator signed, durable before
any message leaves (DESIGN.md section 4). Outside ``data/`` so wiping the
database never forgets it. Written atomically: a temporary file, fsync,
rename, fsync of the folder."""
from __future__ import annotations

import os
from pathlib import Path


def read_sign_state(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_sign_state(path: Path, state: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(state)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
