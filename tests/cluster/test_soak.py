"""The short crash and flood soak (tests/cluster/soak.py; `make soak` runs
1,000 kills): 10 SIGKILLs of random validators under load, then 10 s of
flood, and every check the long one makes."""
import pytest

from tests.cluster.soak import Soak, SoakConfig

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_ten_kills_and_a_flood_lose_nothing_and_fork_nothing(tmp_path):
    report = Soak(tmp_path / "net", SoakConfig(kills=10, flood_s=10.0)).run()
    assert report.kills == 10 and report.acknowledged > 0, report.to_json()
    assert report.lost == [] and report.diverging_heights == [] and report.double_signs == [], report.to_json()
    assert report.stores_opened == 4 and report.flood_heights and min(report.flood_heights.values()) > 0, report.to_json()
    assert report.ok
