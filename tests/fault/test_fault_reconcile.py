"""The daily reconciliation's schedule (plugin/reconcile.py; docs/reconciliation.md): once a day, a missed night
caught up, a failing insurer asked again only after a pause. The run itself is tested against the strict sandbox in
tests/uploads/test_reconciliation.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from plugin.reconcile import Run, day_due, due, last_run, run_if_due


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the schedule ------------------------------------------------------------------------------------------------
def ran(stamp: str, day: str | None = None) -> list[Run]:
    """One run stamped `stamp` for `day` (default: the day of the slot it followed, as the hook records it)."""
    when = at(stamp)
    return [Run(when, date.fromisoformat(day) if day else day_due(when, "23:30"))]


def test_never_run_is_due_from_todays_time_on_not_before():
    assert not due(at("2025-03-10 23:29"), None, "23:30")
    assert due(at("2025-03-10 23:30"), None, "23:30")


def test_run_tonight_is_not_due_again_until_tomorrow_night():
    runs = ran("2025-03-10 23:30:05")
    assert not due(at("2025-03-10 23:59"), runs, "23:30")
    assert not due(at("2025-03-11 12:00"), runs, "23:30")
    assert due(at("2025-03-11 23:30"), runs, "23:30")


def test_a_night_missed_while_the_pc_was_off_is_caught_up_after_midnight_for_that_day():
    runs = ran("2025-03-09 23:30:02")
    now = at("2025-03-11 00:10")
    assert due(now, runs, "23:30")
    assert day_due(now, "23:30") == date(2025, 3, 10)


def test_a_manual_run_after_the_slot_counts_as_that_days_run_and_one_before_it_does_not():
    assert not due(at("2025-03-10 23:45"), ran("2025-03-10 23:40", "2025-03-10"), "23:30")
    assert due(at("2025-03-10 23:45"), ran("2025-03-10 15:00", "2025-03-10"), "23:30")   # sales came after it


def test_after_a_forward_clock_jump_is_put_right_the_real_nights_still_run():
    # the clock jumped ten days ahead on the 10th at 10:00; the schedule reconciled the false 19th; put right at
    # 10:05 — the nights of the 10th and 11th must run as usual, not wait for the false date
    runs = ran("2025-03-09 23:30:04") + ran("2025-03-20 10:00:01", "2025-03-19")
    assert not due(at("2025-03-10 10:05"), runs, "23:30")          # the 9th was reconciled last night
    assert due(at("2025-03-10 23:30"), runs, "23:30")
    runs = ran("2025-03-10 23:30:02") + runs
    assert not due(at("2025-03-11 09:00"), runs, "23:30")
    assert due(at("2025-03-11 23:31"), runs, "23:30")


def test_after_a_backward_clock_jump_a_reconciled_night_is_not_run_twice():
    runs = ran("2025-03-10 23:31:00") + ran("2025-03-09 23:30:07")
    assert not due(at("2025-03-10 23:00"), runs, "23:30")          # the clock went back half an hour
    assert not due(at("2025-03-10 23:30"), runs, "23:30")          # and passes the slot again
    assert due(at("2025-03-11 23:30"), runs, "23:30")


def test_a_day_back_jump_to_before_midnight_does_not_rerun_the_previous_night_either():
    runs = ran("2025-03-10 23:30:05") + ran("2025-03-11 23:30:03")
    assert not due(at("2025-03-11 01:00"), runs, "23:30")          # back from the 12th 01:00 to the 11th


def test_empty_time_disables_the_schedule_and_a_bad_time_is_refused():
    assert not due(at("2025-03-10 23:45"), None, "")
    with pytest.raises(ValueError):
        due(at("2025-03-10 23:45"), None, "half past eleven")


def test_scheduled_hook_runs_once_a_day_and_asks_a_failing_insurer_again_only_after_a_pause(rx, sandbox_http):
    svc, _ = rx
    now = datetime.now()
    if (now + timedelta(minutes=11)).date() != now.date():
        pytest.skip("the audit trail stamps real time; this check needs the next 11 minutes to be today")
    sandbox_http.post("/sandbox/faults", {"infno": "3202", "mode": "error", "times": 1})
    failed = run_if_due(svc, now, "00:00")
    assert failed["ok"] is False and failed["error"]["code"] == "UPSTREAM_REFUSED"
    assert run_if_due(svc, now, "00:00") is None          # throttled, although the insurer is fine again
    assert last_run(svc.ledger) is None
    later = now + timedelta(minutes=11)
    report = run_if_due(svc, later, "00:00")
    assert report["ok"] is True and report["date"] == later.date().isoformat()
    assert run_if_due(svc, later, "00:00") is None        # done for today
