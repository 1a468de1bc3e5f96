"""The commerce workload (node/workload.py) that the simulator and the
commerce benchmark share: its history and mix execute cleanly whatever the
number of merchants, in the mix's proportions, the same for the same seed."""
import random
from collections import Counter

import pytest

from node.workload import build_workload, certify_history, make_world

MIX = {"funds.transfer": 0.4, "coupon.buy": 0.2, "order.create": 0.2, "trace.record": 0.1, "order.confirm": 0.1}


@pytest.mark.parametrize("merchants", [4, 10])
def test_the_history_and_the_mix_execute_cleanly_in_proportion(merchants):
    world = make_world(4, 50, merchants)
    workload = build_workload(world, 2_000, random.Random(3))
    mix = workload.mix(2_000)
    certify_history(world, [*workload.history, mix])   # raises on any failed transaction
    kinds = Counter(tx.kind for tx in mix)
    assert {kind: round(count / len(mix), 2) for kind, count in kinds.items()} == pytest.approx(MIX, abs=0.03)
    sellers = {tx.body["merchant"] for tx in mix if tx.kind == "order.create"}
    assert sellers == {key.address for key in world.merchants}


def test_the_same_seed_gives_the_same_transactions():
    def signed(seed: int) -> list[bytes]:
        workload = build_workload(make_world(4, 20), 300, random.Random(seed))
        return [tx.raw for block in workload.history for tx in block] + [tx.raw for tx in workload.mix(300)]

    assert signed(7) == signed(7) != signed(8)


def test_a_history_step_larger_than_a_block_spans_blocks():
    world = make_world(1, 6_000)
    workload = build_workload(world, 10, random.Random(1))
    cap = world.genesis.params["block_txs_max"]
    assert [len(block) for block in workload.history[:2]] == [cap, 6_000 + 4 + 1 - cap]   # shoppers, merchants, carrier
