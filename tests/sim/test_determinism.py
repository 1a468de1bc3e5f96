"""Seed in, seed out: the same seed gives the same trace_hash in separate
processes with different PYTHONHASHSEED values (through the CLI)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from node.sim import SimConfig, run

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["sim", "--validators", "4", "--byzantine", "1", "--strategy", "replay", "--seed", "9", "--duration", "3",
        "--drop", "0.05", "--partition", "half", "--fault", "wipe", "--crash-rate", "0.5", "--clock-skew-ms", "200", "--json"]


def test_same_seed_same_trace_hash_across_processes():
    outputs = []
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", "from cli.main import main; main()", *ARGS], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0]["trace_hash"] == outputs[1]["trace_hash"]
    for name in ("committed_height", "tx_committed", "messages", "view_changes", "latency_ms_p99"):
        assert outputs[0][name] == outputs[1][name]


def test_another_seed_gives_another_trace():
    one = run(SimConfig(seed=1, duration_ms=2_000, byzantine=1, strategy="garbage"))
    two = run(SimConfig(seed=2, duration_ms=2_000, byzantine=1, strategy="garbage"))
    assert one.trace_hash != two.trace_hash
    assert run(SimConfig(seed=1, duration_ms=2_000, byzantine=1, strategy="garbage")).trace_hash == one.trace_hash
