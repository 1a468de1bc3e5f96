"""/metrics serves this node's own registry in Prometheus text format."""
import asyncio

import aiohttp
from aiohttp import web

from node.metrics import NodeMetrics, add_metrics_route


def test_metrics_are_per_node_and_served_as_prometheus_text():
    async def scenario():
        first, second = NodeMetrics(), NodeMetrics()
        first.height.set(42)
        first.rejections.labels(code="tx.bad_nonce").inc(3)
        second.height.set(7)
        app = web.Application()
        add_metrics_route(app, first)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/metrics") as response:
                    text = await response.text()
                    assert response.status == 200 and response.content_type == "text/plain"
        finally:
            await runner.cleanup()
        assert "shopchain_height 42.0" in text
        assert 'shopchain_rejections_total{code="tx.bad_nonce"} 3.0' in text
        assert "shopchain_height 7.0" not in text
    asyncio.run(scenario())


def test_observers_share_one_peer_label_whatever_their_keys():
    validator = b"\x01" * 32
    metrics = NodeMetrics(frozenset({validator}))
    for index in range(200):                              # fresh observer keys cost an attacker nothing
        observer = index.to_bytes(32, "big")
        metrics.peer_messages.labels(metrics.peer_label(observer), "txs").inc()
    metrics.peer_messages.labels(metrics.peer_label(validator), "txs").inc()
    text = metrics.exposition().decode()
    assert 'shopchain_peer_messages_total{kind="txs",peer="observer"} 200.0' in text
    assert f'shopchain_peer_messages_total{{kind="txs",peer="{validator.hex()[:16]}"}} 1.0' in text
    assert text.count("shopchain_peer_messages_total{") == 2


def test_each_step_counts_in_its_own_series_and_only_a_blocks_write_is_the_last_commit():
    metrics = NodeMetrics()
    metrics.observe_step("persist", 0.25)
    metrics.observe_step("sign_state", 0.5)
    metrics.observe_step("validate", 0.75)
    assert metrics.commit_seconds._value.get() == 0.25
    samples = {(sample.name, tuple(sample.labels.items())): sample.value
               for family in metrics.registry.collect() for sample in family.samples}
    for step, seconds in (("persist", 0.25), ("sign_state", 0.5), ("validate", 0.75)):
        assert samples[("shopchain_step_seconds_count", (("step", step),))] == 1
        assert samples[("shopchain_step_seconds_sum", (("step", step),))] == seconds
