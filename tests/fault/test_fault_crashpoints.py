"""SIGKILL at every crash point of the counter flow (plugin/crashpoints.py; docs/architecture.md "Tests kill the process
at every step of the flow and check, after restart, that every sale ends settled once or reversed, and the ledger
equals the sandbox's ledger").

Each point gets its own rxlane process (own data dir and pharmacy code) against one shared sandbox insurer that
outlives it. The scenarios run side by side once per module; each test then reads its point's outcome.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from plugin.crashpoints import POINTS
from tests.fault.rig import TALLY, BooksAudit, Counter, audit_books, new_pharmacy, swallow_crash

# point → (where in the flow it is reached, what the pharmacist wants in the end, the insurer's settlements after):
# a 2102 that left before the crash is reversed (2601) and the POS settles anew; a lost 2103 is reversed, which
# restores the settlement, and the POS refunds again — the insurer then holds that one settlement, cancelled.
PLANS = {
    "create.before_commit": ("create", "settled", ["settled"]),
    "presettle.after_send": ("presettle", "settled", ["settled"]),
    "settle.before_journal": ("settle", "settled", ["settled"]),
    "settle.after_journal": ("settle", "settled", ["settled"]),
    "settle.after_send": ("settle", "settled", ["reversed", "settled"]),
    "settle.after_answer": ("settle", "settled", ["settled"]),
    "refund.after_journal": ("refund", "refunded", ["cancelled"]),
    "refund.after_send": ("refund", "refunded", ["cancelled"]),
    "refund.after_answer": ("refund", "refunded", ["cancelled"]),
    "resolve.after_journal": ("resolve", "settled", ["reversed", "settled"]),
    "resolve.after_send": ("resolve", "settled", ["reversed", "settled"]),
    "outbox.after_journal": ("outbox", "settled", ["settled"]),
    "outbox.after_send": ("outbox", "settled", ["settled"]),
    "outbox.after_answer": ("outbox", "settled", ["settled"]),
    # the sale is created and committed, the process dies before its Idempotency-Key remembers the answer: the
    # POS's retry with the same key must get that sale, not a second draft refused for holding the same pack
    "idempotency.before_finish": ("keyed", "settled", ["settled"]),
}
KEY = {"Idempotency-Key": "pos1-sale-0001"}
CRASH_WAIT_S = 30.0


@dataclass
class Outcome:
    point: str
    crashed: bool = False
    audit: BooksAudit = field(default_factory=BooksAudit)
    error: str | None = None


def run_crash(launcher, sandbox, root: Path, point: str) -> Outcome:
    """Drive the flow into `point`, let the process kill itself there, restart it clean, let recovery run, let
    the POS finish what it meant to do, then hold both ledgers against each other."""
    stage, intent, _ = PLANS[point]
    outcome = Outcome(point)
    pharmacy = new_pharmacy()
    data = root / pharmacy
    try:
        # resolve.* is reached by recovery of an in-doubt settlement: make one first (crash after the 2102 left).
        rx = launcher.rxlane(data, sandbox, pharmacy, crash_at="settle.after_send" if stage == "resolve" else point)
        pos = Counter(rx, sandbox)
        if stage == "create":
            pos.identify()
            swallow_crash(pos.create)
        elif stage == "keyed":
            pos.identify()
            swallow_crash(lambda: pos.create(headers=KEY))
        else:
            sale_id = pos.ring_up()
            if stage == "presettle":
                swallow_crash(lambda: rx.http.post(f"/v1/sales/{sale_id}/presettle"))
            else:
                r = rx.http.post(f"/v1/sales/{sale_id}/presettle")
                assert r.status_code == 200, r.text
                swallow_crash(lambda: rx.http.post(f"/v1/sales/{sale_id}/settle"))
                if stage == "refund":
                    swallow_crash(lambda: rx.http.post(f"/v1/sales/{sale_id}/refund", {"reason": "退药"}))
        outcome.crashed = rx.proc.died(CRASH_WAIT_S)
        if not outcome.crashed:
            outcome.error = f"never reached {point}"
            return outcome
        if stage == "resolve":
            rx = launcher.rxlane(data, sandbox, pharmacy, crash_at=point)   # recovery at start-up dies here
            if not rx.proc.died(CRASH_WAIT_S):
                outcome.crashed, outcome.error = False, f"recovery never reached {point}"
                return outcome
        rx = launcher.rxlane(data, sandbox, pharmacy)
        rx.settle_down()
        pos.rx = rx
        if stage == "keyed":
            again = pos.create(headers=KEY)
            assert again.status_code == 201 and again.headers.get("Idempotent-Recovered") == "true", again.text
        pos.finish(intent)
        rx.settle_down()
        outcome.audit = audit_books(rx, sandbox)
        if outcome.audit.states != [intent]:
            outcome.audit.bad(f"sales end {outcome.audit.states}, the pharmacist wanted one {intent}")
        rx.kill()
    except (AssertionError, requests.RequestException, RuntimeError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        TALLY.record(f"crash:{point}", outcome.audit, crash_point=point if outcome.crashed else None)
    return outcome


@pytest.fixture(scope="module")
def crash_outcomes(launcher, shared_sandbox, tmp_path_factory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("crash")
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = {p: pool.submit(run_crash, launcher, shared_sandbox, root, p) for p in POINTS}
        return {p: f.result() for p, f in futures.items()}


def test_every_crash_point_has_a_plan():
    assert set(POINTS) == set(PLANS), "a new crash point needs a line in PLANS"


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_crash_point_ends_settled_once_or_reversed_and_books_agree(crash_outcomes, point):
    outcome = crash_outcomes[point]
    assert outcome.error is None, outcome.error
    assert outcome.crashed
    assert outcome.audit.problems == []
    assert outcome.audit.lost == 0 and outcome.audit.duplicated == 0
    assert outcome.audit.insurer_states == PLANS[point][2]
