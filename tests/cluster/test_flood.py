"""A node whose RPC is flooded keeps committing, and so does the rest of the
cluster; an honest client's transfers to it all commit. The flooder is
another process on 127.0.0.2 (tests/cluster/flood_scenario.py). The latency
under flood is a figure of ``python -m bench.run flood``, not a timed test."""
import pytest

from tests.cluster.flood_scenario import SAMPLES, p99, run_flood

pytestmark = pytest.mark.slow


def test_a_flooded_node_keeps_committing_and_serves_an_honest_client(tmp_path):
    result = run_flood(tmp_path / "net")
    assert result.flooder_report.get("batch", 0) > 0, "the flood never reached the node"
    assert len(result.flooded_s) == SAMPLES          # every honest mint committed ok (the scenario asserts each)
    assert all(gained >= 3 for gained in result.heights_gained.values()), result.heights_gained
    print(f"flood: {result.flooder_report}; baseline p99 {p99(result.baseline_s):.3f} s, "
          f"flooded p99 {p99(result.flooded_s):.3f} s")
