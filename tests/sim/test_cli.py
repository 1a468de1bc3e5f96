"""`shopchain sim --json` parsed; a tiny sweep, interrupted and resumed."""
import csv
import json

from click.testing import CliRunner

from cli.main import main

FIELDS = ("seed", "committed_height", "tx_committed", "tx_per_virtual_s", "latency_ms_p50", "latency_ms_p99",
          "view_changes", "safety_violations", "liveness_ok", "trace_hash")


def test_json_report_has_every_field():
    result = CliRunner().invoke(main, ["sim", "--validators", "4", "--byzantine", "1", "--strategy", "silent",
                                       "--seed", "3", "--duration", "3", "--drop", "0.05", "--partition", "ring",
                                       "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert all(name in report for name in FIELDS)
    assert report["seed"] == 3 and report["safety_violations"] == 0 and report["liveness_ok"] is True
    assert report["committed_height"] > report["history_height"] > 0 and len(report["trace_hash"]) == 64


def test_text_report():
    result = CliRunner().invoke(main, ["sim", "--seed", "1", "--duration", "2"])
    assert result.exit_code == 0
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    assert lines["safety_violations"] == "0" and lines["liveness_ok"] == "True"
    assert int(lines["committed_height"]) > 7 and len(lines["trace_hash"]) == 64


def test_sweep_resumes_where_it_stopped(tmp_path):
    args = ["sim", "sweep", "--validators", "4", "--byzantine", "1", "--strategy", "garbage", "--duration", "2",
            "--drop", "0.05", "--out", str(tmp_path), "--workers", "2"]
    first = CliRunner().invoke(main, args[:2] + ["--seeds", "0..1"] + args[2:])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, args[:2] + ["--seeds", "0..2"] + args[2:])
    assert second.exit_code == 0, second.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"] == 3 and summary["ran_now"] == 1 and summary["skipped_as_done"] == 2
    assert summary["safety_violations"] == 0 and summary["liveness_failures"] == 0
    with (tmp_path / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(row["seed"]) for row in rows) == [0, 1, 2]
    assert (tmp_path / "plot.svg").read_text().startswith("<svg")


def test_bad_options_are_coded_user_errors():
    cases = [["--validators", "4", "--byzantine", "4"], ["--drop", "1.5"], ["--latency-ms", "50..5"],
             ["sweep", "--seeds", "a..b", "--out", "unused"],
             ["sweep", "--seeds", "0..1", "--strategy", "loud", "--out", "unused"]]
    for args in cases:
        result = CliRunner().invoke(main, ["sim", *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("sim.bad_option: "), (args, result.stderr)
        assert "Traceback" not in result.output
