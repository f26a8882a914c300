"""Splits per second for a 1-line and a 50-line sale, beside plain Decimal arithmetic over the same lines.

The split runs on every presettle/settle round trip and inside the sandbox for every insurer answer; the target is
≥ 20,000 one-line splits/s. The baseline (Σ round(p × q) with quantize, nothing else) is measured in the same run,
so the ratio says what the policy rules cost on top of the unavoidable Decimal work, independent of the machine.
"""
from __future__ import annotations

import time
from decimal import ROUND_HALF_UP, Decimal

from plugin.policy import QuoteLine, QuoteRequest, Ytd, load_region, split

_FEN = Decimal("0.01")


def _sale(n: int) -> QuoteRequest:
    categories = ("A", "B", "C")
    lines = tuple(
        QuoteLine(med_list_codg=f"XJ{i:03d}", category=categories[i % 3], price=Decimal("1000.00") + i,
                  qty=Decimal("0.5") if i % 4 == 3 else Decimal("1"), payment_standard=Decimal("1000.00") + i,
                  donated=(i % 7 == 6))
        for i in range(n))
    return QuoteRequest(insutype="310", lines=lines, acct_used=True, balc=Decimal("50.00"),
                        ytd=Ytd(fund_paid=Decimal("1000.00")))


def _rate(fn, seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (best of three rounds, to dodge a noisy neighbour)."""
    fn()
    n = 1
    while True:
        started = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 10:
            break
        n *= 2
    per_round = max(1, int(n * (seconds / 3) / elapsed))
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(per_round):
            fn()
        best = max(best, per_round / (time.perf_counter() - started))
    return best


def _baseline(request: QuoteRequest) -> Decimal:
    total = Decimal("0.00")
    for line in request.lines:
        total += (line.price * line.qty).quantize(_FEN, ROUND_HALF_UP)
    return total


def run(quick: bool = False) -> dict:
    policy = load_region("jiangxi")
    seconds = 0.2 if quick else 2.0
    figures: dict = {"target_one_line_splits_per_s": 20000}
    for name, n in (("one_line", 1), ("fifty_line", 50)):
        request = _sale(n)
        splits = _rate(lambda request=request: split(policy, request), seconds)
        baseline = _rate(lambda request=request: _baseline(request), seconds)
        figures[f"{name}_splits_per_s"] = round(splits)
        figures[f"{name}_baseline_per_s"] = round(baseline)
        figures[f"{name}_ratio_to_baseline"] = round(splits / baseline, 3)
    figures["one_line_meets_target"] = figures["one_line_splits_per_s"] >= 20000
    return figures


if __name__ == "__main__":
    import json
    print(json.dumps(run(), indent=2))
