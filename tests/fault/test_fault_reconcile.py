"""Daily reconciliation (plugin/reconcile.py; docs/architecture.md, docs/gateway.md 3201/3202): every difference between the ledger
and the insurer is listed, the clear ones repaired and audited, and the schedule runs once a day."""
from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta

import pytest
from click.testing import CliRunner

from plugin.commands.reconcile import reconcile as reconcile_command
from plugin.reconcile import Run, day_due, due, last_run, run_if_due
from tests.e2e.conftest import identify, new_sale

TODAY = date.today().isoformat()


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


# -- the run, in-process against the sandbox ---------------------------------------------------------------------
def _settled_sale(http, ref) -> dict:
    sale = new_sale(http, ref)
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 200, r.text
    return r.json()


def _reconcile(http, day: str = TODAY) -> dict:
    r = http.post("/v1/reconciliation", {"date": day})
    assert r.status_code == 200, r.text
    return r.json()


def test_clean_day_with_a_sale_and_a_refund_reconciles_with_no_difference(rx, sandbox_http):
    svc, http = rx
    ref = identify(http)["patient_ref"]
    kept = _settled_sale(http, ref)
    returned = _settled_sale(http, ref)
    assert http.post(f"/v1/sales/{returned['id']}/refund").status_code == 200
    report = _reconcile(http)
    assert report["ok"] and report["differences"] == [] and report["repairs"] == []
    assert report["sales"] == 2                         # the refunded settlement is sent to 3202, flagged
    [totals] = report["totals"]                         # one insutype (310), clearing type 41
    assert (totals["insutype"], totals["clr_type"], totals["stmt_rslt"]) == ("310", "41", "0")
    assert totals["ours"]["fixmedins_setl_cnt"] == 1
    assert totals["ours"]["medfee_sumamt"] == kept["split"]["medfee_sumamt"]
    assert last_run(svc.ledger) is not None             # the audit trail records the run (the schedule reads it)


def test_settlement_the_insurer_has_for_a_sale_held_in_doubt_is_repaired_and_audited(rx, sandbox_http):
    svc, http = rx
    ref = identify(http)["patient_ref"]
    sale = new_sale(http, ref)
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT"
    report = _reconcile(http)
    kinds = {d["kind"] for d in report["differences"]}
    assert {"missing_here", "in_doubt"} <= kinds
    found = next(d for d in report["differences"] if d["kind"] == "missing_here")
    assert found["sale_id"] == sale["id"] and found["repaired"] is True
    [repair] = report["repairs"]
    assert repair["sale_id"] == sale["id"] and repair["kind"] in ("recorded_settled", "reversed_in_doubt")
    assert report["remaining"] == [] and report["ok"] is True
    # Both books now say the same thing about that 2102: settled on both sides, or reversed on both sides.
    mine = http.get(f"/v1/sales/{sale['id']}").json()
    msgid = next(j["msgid"] for j in mine["journal"] if j["infno"] == "2102")
    [theirs] = [s for s in sandbox_http.get("/sandbox/ledger").json()["settlements"] if s["msgid"] == msgid]
    assert (mine["state"], theirs["state"]) in (("settled", "settled"), ("reversed", "reversed"))
    audits = svc.ledger.query("SELECT detail_json FROM audit WHERE kind = 'reconciliation_repair' AND sale_id = ?",
                              (sale["id"],))
    assert len(audits) == 1 and json.loads(audits[0][0])["msgid"] == msgid


def test_every_kind_of_difference_is_listed_and_none_is_repaired_by_guessing(rx, sandbox_http, service_factory,
                                                                            tmp_path):
    svc, http = rx
    ref = identify(http)["patient_ref"]
    a, b, c = (_settled_sale(http, ref) for _ in range(3))
    # Another ledger of the same pharmacy settles one: the insurer has a settlement this ledger does not know.
    # (A second later: two ledgers of one pharmacy issue the same msgids within one second — see
    # test_fault_concurrency.py, two counters.)
    time.sleep(1.1)
    _, other = service_factory(tmp_path / "other-counter")
    stranger = _settled_sale(other, identify(other)["patient_ref"])
    # This ledger is damaged three ways (as a restored backup or a hand edit would leave it).
    with svc.ledger.transaction() as conn:
        split = json.loads(conn.execute("SELECT split_json FROM sales WHERE id = ?", (a["id"],)).fetchone()[0])
        split["medfee_sumamt"] = "4838.00"
        conn.execute("UPDATE sales SET split_json = ? WHERE id = ?", (json.dumps(split), a["id"]))
        conn.execute("UPDATE sales SET state = 'refunded' WHERE id = ?", (b["id"],))
        conn.execute("UPDATE sales SET setl_id = 'ST-NOT-AT-THE-INSURER' WHERE id = ?", (c["id"],))
    report = _reconcile(http)
    got = {(d["kind"], d.get("setl_id")) for d in report["differences"]}
    assert ("amount_differs", a["setl_id"]) in got
    assert ("state_differs", b["setl_id"]) in got
    assert ("missing_there", "ST-NOT-AT-THE-INSURER") in got
    assert ("missing_here", c["setl_id"]) in got and ("missing_here", stranger["setl_id"]) in got
    assert any(d["kind"] == "totals_differ" for d in report["differences"])
    assert report["repairs"] == [] and report["ok"] is False
    amount = next(d for d in report["differences"] if d["kind"] == "amount_differs")
    assert (amount["field"], amount["ours"], amount["insurer"]) == ("medfee_sumamt", "4838.00", "4837.00")


def test_reconciliation_refuses_a_date_that_is_not_a_calendar_day(rx):
    _, http = rx
    for bad in ({"date": "2025-02-30"}, {"date": "yesterday"}, {}):
        r = http.post("/v1/reconciliation", bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT", (bad, r.text)


def test_reconcile_command_prints_the_days_report_as_json(rx, sandbox):
    svc, http = rx
    _settled_sale(http, identify(http)["patient_ref"])
    result = CliRunner().invoke(reconcile_command, ["--date", TODAY, "--data-dir", str(svc.ledger.path.parent)],
                                env={"RXLANE_NHSA__URL": sandbox.url})
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["date"] == TODAY and report["ok"] is True and report["sales"] == 1
    bad = CliRunner().invoke(reconcile_command, ["--date", "2025-13-01"], env={"RXLANE_NHSA__URL": sandbox.url})
    assert bad.exit_code == 2

