"""One retry policy (plugin/retry.py): backoff with jitter, never due at once, the same for outbox and sign-in."""
import random

from plugin.retry import OUTBOX, SIGN_IN, RetryPolicy, permanent


def test_delays_grow_double_to_their_cap_and_stay_between_half_and_whole():
    policy = RetryPolicy(base_s=2, cap_s=60)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (20, 60)]:
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(attempt, rng) <= ceiling


def test_two_thousand_counters_failing_together_do_not_retry_in_step():
    rng = random.Random(7)
    due = [round(OUTBOX.delay(4, rng), 1) for _ in range(2000)]
    assert len(set(due)) > 30 and min(due) >= 8.0 and max(due) <= 16.0


def test_outbox_parks_after_eight_failures_and_sign_in_never_gives_up():
    assert not OUTBOX.exhausted(7) and OUTBOX.exhausted(8)
    assert not SIGN_IN.exhausted(10_000)


def test_a_refusal_text_matching_a_permanent_pattern_is_not_retried():
    patterns = [r"追溯码.*已(销售|使用)", r"already sold"]
    assert permanent("追溯码83912345678901234567已销售，不能重复上传", patterns)
    assert permanent("Code ALREADY SOLD elsewhere", patterns)
    assert not permanent("系统繁忙，请稍后再试", patterns) and not permanent("", patterns)
