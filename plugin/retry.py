"""One retry policy for everything rxlane retries against a remote: outbox uploads, gateway sign-in, HQ heartbeats.

Exponential backoff with *equal jitter* (half the delay fixed, half random; the AWS architecture blog's analysis of
backoff): after an insurer outage thousands of counters must not come back in step, and a retry must never be due
at once. A refusal that will not change on retry (the code already sold elsewhere, a field the insurer rejects) is
permanent and is not retried at all — the caller parks it and shows it; only transient failures are retried.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from collections.abc import Iterable


@dataclass(frozen=True)
class RetryPolicy:
    """``delay(n)`` for the n-th failed attempt (1-based): ``min(cap_s, base_s × 2^(n−1))``, jittered into
    [half, whole]; ``exhausted(n)`` once ``max_attempts`` attempts have failed (0 = never)."""
    base_s: float
    cap_s: float
    max_attempts: int = 0

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, attempts - 1)))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

    def exhausted(self, attempts: int) -> bool:
        return bool(self.max_attempts) and attempts >= self.max_attempts


#: Uploads after a sale (3505/3506, 7204/7206): about 2 s, 4 s, … up to 10 minutes; parked after 8 failures.
OUTBOX = RetryPolicy(base_s=2.0, cap_s=600.0, max_attempts=8)
#: Gateway sign-in (9001) after a failure: the next request may try again after this delay, not on every call.
SIGN_IN = RetryPolicy(base_s=1.0, cap_s=60.0)
#: Heartbeats to chain HQ: HQ being away must never make thousands of stores hammer it together.
HEARTBEAT = RetryPolicy(base_s=30.0, cap_s=1800.0)


def permanent(err_msg: str, patterns: Iterable[str]) -> bool:
    """Does the insurer's refusal text match one of the (regular-expression) ``patterns`` that name refusals no
    retry can change? Case-insensitive; an empty text is never permanent."""
    return bool(err_msg) and any(re.search(p, err_msg, re.IGNORECASE) for p in patterns)
