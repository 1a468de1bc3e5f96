"""/health and the metrics of real validator processes: stopping two of four
(SIGSTOP) leaves the other two without commits, and they say so."""
import os
import signal

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster.clusterutil import rpc_url, run, running_testnet, wait_health, wait_height

pytestmark = pytest.mark.slow
ALL = ["node0", "node1", "node2", "node3"]


def test_two_of_four_stopped_makes_the_others_unhealthy_until_they_resume(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 2)
            body = await wait_health(cluster, "node0", 200)
            assert body["status"] == "ok" and body["height"] >= 2 and body["validators_connected"] == 3
            assert body["peers"] >= 3 and body["catching_up"] is False and 0 <= body["last_commit_age_ms"] < 3_000
            stopped = [cluster.nodes[name].process.pid for name in ("node2", "node3")]
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            try:
                for name in ("node0", "node1"):
                    body = await wait_health(cluster, name, 503)      # 3 view timeouts of 1 s without a commit
                    assert body["status"] == "unhealthy" and "no_commit" in body["reasons"]
                    assert body["last_commit_age_ms"] > 3_000
            finally:
                for pid in stopped:
                    os.kill(pid, signal.SIGCONT)
            for name in ALL:
                await wait_health(cluster, name, 200, deadline_s=90)
        run(scenario())


def test_metrics_count_commits_latency_and_rejections(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 3)
            url = rpc_url(cluster, "node0")
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tx_submit", "params": {"tx": "00"}}) as response:
                    assert (await response.json())["error"]["data"]["code"] == "tx.malformed"
                async with session.get(url[: -len("/rpc")] + "/metrics") as response:
                    text = await response.text()
            samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                       for family in text_string_to_metric_families(text) for sample in family.samples}
            assert samples[("shopchain_height", ())] >= 3
            assert samples[("shopchain_block_interval_seconds_count", ())] >= 2
            assert samples[("shopchain_last_commit_seconds", ())] > 0
            for step in ("sign_state", "persist"):
                assert samples[("shopchain_step_seconds_count", (("step", step),))] >= 2
                assert samples[("shopchain_step_seconds_sum", (("step", step),))] > 0
            assert samples[("shopchain_rejections_total", (("code", "tx.malformed"),))] == 1
            received = [value for (name, labels), value in samples.items()
                        if name == "shopchain_peer_messages_total" and ("kind", "consensus") in labels]
            assert len(received) == 3 and min(received) > 0
        run(scenario())
