"""Races: a POS that retries while its first request is still at the insurer, a POS that retries with the same
Idempotency-Key after rxlane was killed, and two counters settling at the same instant (docs/pos-integration.md
idempotent retries, §5 no double charge ever)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.fault.rig import TALLY, Counter, audit_books, new_pharmacy


def _at_next_second() -> None:
    """Sleep to just after the next wall-clock second, so racing counters issue their msgids inside one second."""
    time.sleep(1.05 - (time.time() % 1.0))


def test_pos_retry_with_same_key_while_first_settle_is_at_the_insurer_settles_once(launcher, shared_sandbox,
                                                                                   tmp_path):
    # The 2102 takes 1.5 s at the insurer (slow: commits, then answers); the POS gives up waiting after 0.3 s and
    # retries with the same Idempotency-Key. Timeout 6 s so the slow answer is a late success, not a doubt.
    pharmacy = new_pharmacy()
    sandbox = shared_sandbox     # the module's tests run one after another: the armed fault is this test's own
    rx = launcher.rxlane(tmp_path / "data", sandbox, pharmacy, timeout_s=6)
    pos = Counter(rx, sandbox)
    sale_id = pos.ring_up()
    sandbox.fault("2102", "slow", 1, 1500)
    key = {"Idempotency-Key": f"settle-{sale_id}"}
    answers: list[requests.Response | None] = [None, None]

    def settle(n: int) -> None:
        answers[n] = requests.post(f"{rx.url}/v1/sales/{sale_id}/settle", headers=key, timeout=30)

    first = threading.Thread(target=settle, args=(0,))
    first.start()
    time.sleep(0.3)
    second = threading.Thread(target=settle, args=(1,))
    second.start()
    first.join(30)
    second.join(30)
    assert all(answers), "a settle request never came back"
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json()["setl_id"] == answers[1].json()["setl_id"]
    assert "Idempotent-Replayed" not in answers[0].headers
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
    rx.settle_down()
    audit = audit_books(rx, sandbox)
    TALLY.record("race:same-key-in-flight", audit)
    assert audit.problems == [] and audit.insurer_states == ["settled"]


def test_pos_retry_with_same_key_after_crash_gets_an_answer_and_pays_once(launcher, shared_sandbox, tmp_path):
    pharmacy = new_pharmacy()
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy, crash_at="settle.after_send")
    pos = Counter(rx, shared_sandbox)
    sale_id = pos.ring_up()
    key = {"Idempotency-Key": f"settle-{sale_id}"}
    with pytest.raises(requests.ConnectionError):
        rx.http.post(f"/v1/sales/{sale_id}/settle", headers=key)
    assert rx.proc.died(30)
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy)
    rx.settle_down()                                  # the lost 2102 is reversed
    try:
        again = requests.post(f"{rx.url}/v1/sales/{sale_id}/settle", headers=key, timeout=8)
    finally:
        TALLY.scenarios.add("race:same-key-after-crash")
    assert again.status_code == 200, again.text
    rx.settle_down()
    audit = audit_books(rx, shared_sandbox)
    TALLY.record("race:same-key-after-crash", audit, known=True)
    assert audit.problems == [] and audit.insurer_states == ["reversed", "settled"]


def test_pos_retry_with_same_key_after_a_crash_past_the_answer_gets_the_settled_sale_not_invalid_state(
        launcher, shared_sandbox, tmp_path):
    # the 2102 was answered and recorded, the process died before the key remembered the answer
    pharmacy = new_pharmacy()
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy, crash_at="settle.after_answer")
    sale_id = Counter(rx, shared_sandbox).ring_up()
    key = {"Idempotency-Key": f"settle-{sale_id}"}
    with pytest.raises(requests.ConnectionError):
        rx.http.post(f"/v1/sales/{sale_id}/settle", headers=key)
    assert rx.proc.died(30)
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy)
    again = requests.post(f"{rx.url}/v1/sales/{sale_id}/settle", headers=key, timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "settled" and again.json()["setl_id"]
    assert again.headers.get("Idempotent-Recovered") == "true"
    replay = requests.post(f"{rx.url}/v1/sales/{sale_id}/settle", headers=key, timeout=10)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["setl_id"] == again.json()["setl_id"]
    rx.settle_down()
    audit = audit_books(rx, shared_sandbox)
    TALLY.record("race:same-key-after-crash-past-answer", audit)
    assert audit.problems == [] and audit.insurer_states == ["settled"]


def test_two_threads_of_one_counter_settling_two_sales_at_once_each_settle_once(launcher, shared_sandbox,
                                                                              tmp_path):
    pharmacy = new_pharmacy()
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy)
    sales = [Counter(rx, shared_sandbox).ring_up() for _ in range(2)]
    _at_next_second()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda s: rx.http.post(f"/v1/sales/{s}/settle"), sales))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    rx.settle_down()
    audit = audit_books(rx, shared_sandbox)
    TALLY.record("race:one-counter-two-sales", audit)
    assert audit.problems == [] and audit.insurer_states == ["settled", "settled"]


def test_two_counters_of_one_pharmacy_settling_at_the_same_instant_each_settle_once(launcher, shared_sandbox,
                                                                                   tmp_path):
    pharmacy = new_pharmacy()
    # each counter PC of the store has its own [store] counter_no, which keeps their msgids apart
    counters = [launcher.rxlane(tmp_path / f"counter{n}", shared_sandbox, pharmacy,
                                env={"RXLANE_STORE__COUNTER_NO": str(n)}) for n in (1, 2)]
    sales = [(rx, Counter(rx, shared_sandbox).ring_up()) for rx in counters]
    _at_next_second()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda p: p[0].http.post(f"/v1/sales/{p[1]}/settle"), sales))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    for rx in counters:
        rx.settle_down()
    # Reconciliation is per pharmacy at the insurer but each counter keeps its own ledger, so it is not run here.
    audit = audit_books(counters, shared_sandbox, reconcile=False)
    TALLY.record("race:two-counters", audit)
    assert audit.problems == [] and audit.insurer_states == ["settled", "settled"]
