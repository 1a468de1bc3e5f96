"""LevelDB's flushes and merges run on a thread at a lower CPU priority
(storage/leveldb.py, docs/benchmarks.md "Compactions at a lower priority")."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# In a fresh process: LevelDB starts its background thread once a process,
# so a test process that opened a store before would already have one.
PROBE = r"""
import json, os, sys, threading
from storage.leveldb import BACKGROUND_NICE, LevelDBStore
from tests.waiting import eventually_sync

def cpu_ticks():
    # Each thread's user + system CPU ticks.
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        ticks[int(tid)] = int(fields[11]) + int(fields[12])
    return ticks

store = LevelDBStore(sys.argv[1])
python_threads = {thread.native_id for thread in threading.enumerate()}
# The thread that opened the store has returned from its work; wait until it has left the process as well.
eventually_sync(lambda: len(os.listdir("/proc/self/task")) == len(python_threads) + 1, what="the opening thread to exit")
before = cpu_ticks()
for batch_number in range(40):
    with store.write_batch() as batch:
        for i in range(1000):
            batch.put(b"\x06" + os.urandom(32), os.urandom(480))
store.compact()
after = cpu_ticks()
print(json.dumps([{"tid": tid, "python": tid in python_threads, "lowered": os.getpriority(os.PRIO_PROCESS, tid) == BACKGROUND_NICE,
                   "cpu_ticks": ticks - before.get(tid, 0)} for tid, ticks in after.items()]))
store.close()
"""


def test_leveldb_flushes_and_merges_on_a_lower_priority_thread(tmp_path):
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "data")], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    threads = json.loads(out.stdout)
    lowered = [thread for thread in threads if thread["lowered"]]
    assert [thread["python"] for thread in threads if not thread["lowered"]] == [True], "only the main thread keeps its priority"
    assert len(lowered) == 1 and not lowered[0]["python"], threads
    # The 20 MB memtable's flush and the merge that compact() asks for ran on it.
    assert lowered[0]["cpu_ticks"] > 0, threads
