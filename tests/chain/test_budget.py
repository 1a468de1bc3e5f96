"""chain/budget.py: the token bucket of the RPC gate and of block sync serving."""
from chain.budget import TokenBucket


def test_token_bucket_saves_at_most_its_burst():
    bucket = TokenBucket(rate_per_s=10.0, burst=2, now_s=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    assert [bucket.take(100.0) for _ in range(3)] == [True, True, False]
    assert bucket.take(100.05) is False and bucket.take(100.2) is True


def test_work_charged_after_it_is_done_runs_into_debt_once_and_waits_it_out():
    bucket = TokenBucket(rate_per_s=100.0, burst=100, now_s=0.0)
    assert bucket.in_credit(0.0)
    bucket.charge(250)                          # one answer larger than the whole burst
    assert not bucket.in_credit(0.0) and not bucket.in_credit(1.0)   # 150 in debt, 100 back a second
    assert bucket.in_credit(1.6)
