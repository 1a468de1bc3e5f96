"""`shopchain sim sweep --scheduler`: a Dask cluster gives the rows the local
pool gives and resumes like it; a scheduler that is not there, or goes away,
is a coded error."""
import csv
import json
import socket
import sys
from pathlib import Path

import dask
import pytest
from click.testing import CliRunner
from distributed import LocalCluster

from cli.main import main
from node.sim.core import SimConfig, SimOptionError
from node.sim.sweep import sweep as run_sweep

ARGS = ["--validators", "4", "--byzantine", "1", "--strategy", "garbage", "--duration", "2", "--drop", "0.05"]


@pytest.fixture
def cluster(request) -> LocalCluster:
    started = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address=None)
    request.addfinalizer(started.close)
    return started


def sweep(out: Path, seeds: str, *where: str) -> dict:
    result = CliRunner().invoke(main, ["sim", "sweep", "--seeds", seeds, "--out", str(out), *ARGS, *where])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def by_seed(found: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each row but its wall time (trace_hash and every figure), by seed."""
    return {row["seed"]: {name: value for name, value in row.items() if name != "wall_s"} for row in found}


def test_cluster_rows_equal_local_rows_and_resume(cluster, tmp_path):
    remote, local = tmp_path / "remote", tmp_path / "local"
    first = sweep(remote, "0..1", "--scheduler", cluster.scheduler_address)
    assert (first["runs"], first["ran_now"], first["skipped_as_done"]) == (2, 2, 0)
    before = rows(remote)
    second = sweep(remote, "0..3", "--scheduler", cluster.scheduler_address)
    assert (second["runs"], second["ran_now"], second["skipped_as_done"]) == (4, 2, 2)
    assert second["safety_violations"] == 0 and second["liveness_failures"] == 0
    after = rows(remote)
    assert after[:2] == before and sorted(int(row["seed"]) for row in after) == [0, 1, 2, 3]
    sweep(local, "0..3", "--workers", "2")
    assert by_seed(after) == by_seed(rows(local)) and all(len(row["trace_hash"]) == 64 for row in after)


def test_lost_scheduler_is_a_coded_error_and_the_sweep_resumes(cluster, tmp_path):
    configs = [SimConfig(seed=seed, duration_ms=2000) for seed in range(4)]

    def close_after_first(arriving, total):
        yield next(arriving)
        cluster.close()
        yield from arriving

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(SimOptionError) as lost:
        run_sweep(configs, tmp_path, 2, close_after_first, cluster.scheduler_address)
    assert lost.value.code == "sim.scheduler_unreachable" and "run the same command again" in lost.value.message
    before = rows(tmp_path)
    assert len(before) == 1
    summary = run_sweep(configs, tmp_path, 2)
    assert (summary["runs"], summary["ran_now"], summary["skipped_as_done"]) == (4, 3, 1)
    assert rows(tmp_path)[:1] == before and sorted(int(row["seed"]) for row in rows(tmp_path)) == [0, 1, 2, 3]


def coded_error(args: list[str]) -> str:
    result = CliRunner().invoke(main, ["sim", "sweep", "--seeds", "0..0", *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr.splitlines()[-1]


def test_unreachable_scheduler_is_a_coded_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        error = coded_error(["--out", str(tmp_path), "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert error.startswith(f"sim.scheduler_unreachable: no Dask scheduler answers at tcp://127.0.0.1:{port}")


def test_malformed_address_and_missing_dask_are_bad_options(tmp_path, monkeypatch):
    error = coded_error(["--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:port"])
    assert error.startswith("sim.bad_option: --scheduler is an address like tcp://HOST:8786")
    monkeypatch.setitem(sys.modules, "distributed", None)
    error = coded_error(["--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:8786"])
    assert error == "sim.bad_option: --scheduler needs Dask: pip install 'shopchain[distributed]'"
