"""SIGKILL a writer at random moments: the store is always at a complete
height, its indexes agree with its blocks, and nothing acknowledged is lost."""
import hashlib
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from chain.block import Block
from chain.state_tree import STATE_TREE_RADIX_BITS, StateTree, key_path
from chain.votes import verify_certificate
from storage.blockstore import BlockStore
from tests.factories import CHAIN_ID
from tests.storage.crash_writer import GENESIS_HASH, TXS_PER_BLOCK, VALIDATORS, block_at, open_store

KILLS = 55
REPO = Path(__file__).resolve().parents[2]


def start_writer(data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_writer", str(data_dir)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
    )


def read_acknowledgements(child: subprocess.Popen, wanted: int, deadline_s: float = 30.0) -> tuple[list[int], bytes]:
    """Heights the child has acknowledged, at least ``wanted`` of them; waits
    on the pipe with select, so a silent child fails the deadline, not the suite.
    Also returns the start of a line not yet finished."""
    end = time.monotonic() + deadline_s
    received = b""
    while received.count(b"\n") < wanted:
        remaining = end - time.monotonic()
        ready, _, _ = select.select([child.stdout], [], [], max(0.0, remaining))
        assert ready, "writer acknowledged too few commits before the deadline"
        chunk = os.read(child.stdout.fileno(), 4096)
        assert chunk, f"writer exited early: {child.stderr.read().decode(errors='replace')}"
        received += chunk
    *lines, unfinished = received.split(b"\n")
    return [int(line) for line in lines], unfinished


def check_complete(store: BlockStore) -> int:
    last = store.last_height()
    assert store.genesis_hash() == GENESIS_HASH
    prev_hash = GENESIS_HASH
    for height in range(1, last + 1):
        block = store.block_by_height(height)
        assert isinstance(block, Block) and block.header.prev_hash == prev_hash
        assert block == block_at(height, prev_hash), "stored block differs from the one committed"
        certificate = store.certificate(height)
        verify_certificate(certificate, VALIDATORS, CHAIN_ID, height, block.hash())
        assert len(store.results(height)) == TXS_PER_BLOCK
        assert store.height_of_hash(block.hash()) == height
        for index, raw in enumerate(block.txs):
            assert store.tx_location(hashlib.sha256(raw).hexdigest()) == (height, index)
        prev_hash = block.hash()
    assert store.last_block_hash() == prev_hash
    assert store.block_by_height(last + 1) is None and store.certificate(last + 1) is None
    state = store.state()
    if last:
        assert store.last_state_root() == store.block_by_height(last).header.state_root
        assert state.get(b"last") == last.to_bytes(8, "big")
        assert state.get(b"height/%d" % last) == store.block_by_height(last).hash()
        expected_heights = [h for h in range(max(1, last - 1), last + 1)]
        assert sorted(int(k.split(b"/")[1]) for k, _ in state.iterate_prefix(b"height/")) == expected_heights
        # The state tree's versions from its base on were rebuilt (each root checked on opening) and answer.
        tree = StateTree(store, STATE_TREE_RADIX_BITS)
        for height in range(max(1, store.tree_base()), last + 1):
            assert tree.get(store.tree_root(height), key_path(b"last")) == height.to_bytes(8, "big")
    return last


def test_sigkill_at_random_moments_never_loses_or_tears_a_commit(tmp_path):
    rng = random.Random(20261124)
    data_dir = tmp_path / "data"
    acknowledged_top = 0
    for _ in range(KILLS):
        child = start_writer(data_dir)
        acknowledged, unfinished = [], b""
        try:
            acknowledged, unfinished = read_acknowledgements(child, rng.randint(1, 3))
            time.sleep(rng.uniform(0, 0.01))  # the kill lands at a random point of a later commit
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait(10)
            acknowledged += [int(line) for line in (unfinished + child.stdout.read()).split()]  # printed before it died
            child.stdout.close()
            child.stderr.close()
        acknowledged_top = max(acknowledged_top, acknowledged[-1])
        store = open_store(data_dir)
        try:
            last = check_complete(store)
        finally:
            store.close()
        assert last >= acknowledged_top, f"height {acknowledged_top} was acknowledged but the store is at {last}"
    store = open_store(data_dir)
    try:
        assert store.tree_base() > 0, "the writer's tree moved its base to disk (promotions, spills) between the kills"
    finally:
        store.close()
