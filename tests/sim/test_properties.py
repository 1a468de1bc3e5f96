"""Hypothesis over seeds, network, disk and sync faults and every Byzantine
strategy, with f = 1 of 4 and f = 2 of 7 (less the honest validator a fault
takes): no safety violation ever, and every honest replica commits again once
the network heals (the liveness phase)."""
import pytest
from hypothesis import given, settings, strategies as st

from chain.transaction import decode_transaction
from node.sim import FAULTS, PARTITIONS, STRATEGIES, SimConfig, Simulation, run
from node.sim.core import FAULT_VICTIMS

faults = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "drop": st.sampled_from([0.0, 0.02, 0.1]),
    "duplicate": st.sampled_from([0.0, 0.05]),
    "reorder": st.sampled_from([0.0, 0.1]),
    "partition": st.sampled_from(PARTITIONS),
    "crash_rate": st.sampled_from([0.0, 0.5]),
    "clock_skew_ms": st.sampled_from([0, 300]),
    "fault": st.sampled_from(FAULTS),
})


def check(report):
    assert report.violations == [], report.config.replay_command()
    assert report.liveness_ok, f"no liveness after the heal: {report.config.replay_command()}"


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=20)
@given(fault=faults)
def test_f1_of_4_is_safe_and_live(strategy, fault):
    byzantine = 1 - FAULT_VICTIMS[fault["fault"]]
    check(run(SimConfig(validators=4, byzantine=byzantine, strategy=strategy, duration_ms=5_000, **fault)))


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=10)
@given(fault=faults)
def test_f2_of_7_is_safe_and_live(strategy, fault):
    byzantine = 2 - FAULT_VICTIMS[fault["fault"]]
    check(run(SimConfig(validators=7, byzantine=byzantine, strategy=strategy, duration_ms=5_000, **fault)))


@pytest.mark.parametrize("partition", ["half", "ring", "isolate"])
def test_a_partitioned_replica_catches_up_by_sync_after_the_heal(partition):
    report = run(SimConfig(validators=4, partition=partition, seed=11, duration_ms=8_000, drop=0.05))
    check(report)
    assert report.max_height - report.committed_height <= 1


def test_the_commerce_workload_commits():
    simulation = Simulation(SimConfig(validators=4, byzantine=1, strategy="conflicting-votes", seed=5, duration_ms=6_000))
    report = simulation.run()
    check(report)
    assert report.tx_committed >= 0.8 * report.tx_submitted > 0
    assert report.percentile(0.5) is not None
    store = simulation.honest[0].store
    outcomes: dict[str, list[bool]] = {}
    for height in range(report.history_height + 1, store.last_height() + 1):
        for raw, result in zip(store.block_by_height(height).txs, store.results(height)):
            outcomes.setdefault(decode_transaction(raw).kind, []).append(result.ok)
    assert set(outcomes) == {"funds.transfer", "coupon.buy", "order.create", "trace.record", "order.confirm"}
    assert all(all(results) for results in outcomes.values()), {kind: results.count(False) for kind, results in outcomes.items()}


@pytest.mark.parametrize("strategy", ["conflicting-votes", "equivocate", "amnesia"])
@pytest.mark.parametrize("seed", range(4))
def test_crashing_between_persist_and_send_never_breaks_safety(strategy, seed):
    """Honest replicas crash right after writing their sign state, before the
    vote leaves, then restart from it (the double-sign window of section 4)."""
    report = run(SimConfig(validators=4, byzantine=1, strategy=strategy, seed=seed, duration_ms=5_000,
                           crash_after_persist=0.05, drop=0.02))
    check(report)
