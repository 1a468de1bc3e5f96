"""node/bound.py: the machine's bound from its two measured times."""
from node.bound import Bound


def test_bound_is_cores_over_validators_times_the_work_of_a_transaction():
    assert Bound("commerce", 2, 4, exec_us=150.0, verify_us=100.0).tx_per_s == 2 / (4 * 250e-6)


def test_two_measurements_average_their_times_not_their_rates():
    before = Bound("commerce", 2, 4, exec_us=100.0, verify_us=50.0)
    after = Bound("commerce", 2, 4, exec_us=200.0, verify_us=150.0)
    averaged = before.averaged_with(after)
    assert averaged == Bound("commerce", 2, 4, exec_us=150.0, verify_us=100.0)
    assert after.tx_per_s < averaged.tx_per_s < (before.tx_per_s + after.tx_per_s) / 2 < before.tx_per_s
