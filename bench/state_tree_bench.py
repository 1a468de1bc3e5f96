"""The state tree's radix, chosen by measurement (chain/state_tree.py).

For each radix (2, 4, 16 and 256 children a node) a tree of ``KEYS`` keys
is built untimed, then blocks of ``CHANGES`` changed keys (70 % updates of
present keys, 30 % new keys: about the write-set of 2,000 commerce
transactions) are applied, one version each, timed. Printed per radix: the
update's time per changed key with the block's nodes written to a real
LevelDB in one batch (reads come from memory, as from the node cache), the
nodes and bytes one block writes, a proof's bytes and its check.
"""
from __future__ import annotations

import random
import statistics
import tempfile
import time

import plyvel

from bench.timing import Measurement
from chain.state_tree import StateTree, key_path, ref_hash, value_hash, verify_proof

KEYS = 100_000
CHANGES = 5_770
BLOCKS = 5
PROOFS = 300
RADIXES = (1, 2, 4, 8)


class _Nodes:
    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get_node(self, key: bytes) -> bytes | None:
        return self.nodes.get(key)


def _measure(radix_bits: int, keys: int = KEYS, changes: int = CHANGES) -> tuple[list[Measurement], str]:
    rng = random.Random(radix_bits)
    store = _Nodes()
    tree = StateTree(store, radix_bits)
    paths = [key_path(i.to_bytes(8, "big")) for i in range(keys)]
    built = tree.update(None, {path: value_hash(path) for path in paths}, 1)
    store.nodes.update(built.nodes)
    root, next_key = built.root, keys
    per_key_us, written, written_bytes = [], [], []
    scratch = tempfile.TemporaryDirectory()
    db = plyvel.DB(scratch.name, create_if_missing=True)
    for version in range(2, 2 + BLOCKS):
        batch = {}
        for _ in range(changes):
            if rng.random() < 0.7:
                batch[rng.choice(paths)] = value_hash(rng.randbytes(8))
            else:
                path = key_path(next_key.to_bytes(8, "big"))
                next_key += 1
                paths.append(path)
                batch[path] = value_hash(path)
        started = time.perf_counter_ns()
        update = tree.update(root, batch, version)
        with db.write_batch() as write:
            for key, raw in update.nodes.items():
                write.put(key, raw)
        per_key_us.append((time.perf_counter_ns() - started) / len(batch) / 1000)
        store.nodes.update(update.nodes)
        root = update.root
        written.append(len(update.nodes))
        written_bytes.append(sum(len(key) + len(raw) for key, raw in update.nodes.items()))
    db.close()
    scratch.cleanup()
    proofs = [(path, *tree.prove(root, path)) for path in rng.sample(paths, PROOFS)]
    proof_bytes = [len(proof.encode(radix_bits)) for _, _, proof in proofs]
    verify_us = []
    for run in range(BLOCKS):
        started = time.perf_counter_ns()
        for path, found, proof in proofs:
            verify_proof(ref_hash(root), path, found, proof, radix_bits)
        verify_us.append((time.perf_counter_ns() - started) / len(proofs) / 1000)
    name = f"{1 << radix_bits}-ary"
    rows = [Measurement(f"state tree {name}: update + write per changed key", per_key_us),
            Measurement(f"state tree {name}: proof check", verify_us)]
    summary = (f"state tree {name}: {statistics.median(written):,.0f} nodes, "
               f"{statistics.median(written_bytes) / 1024:,.0f} KiB written per block of {changes:,} changes; "
               f"proof {statistics.median(proof_bytes):,.0f} bytes (median)")
    return rows, summary


def run() -> list[Measurement]:
    rows = []
    for radix_bits in RADIXES:
        measured, summary = _measure(radix_bits)
        print(summary)
        rows += measured
    return rows
