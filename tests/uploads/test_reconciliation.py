"""The daily reconciliation against the strict sandbox (docs/reconciliation.md "Reconciliation", "One
reconciliation per store"): 3201 per insutype, clearing type and agency read from ``stmtinfo``; the detail file
through 9101, 3202 and 9102 with every differing row listed; the store's counters gathered by the lead so that a
store with several counters reconciles once, with no false difference."""
from __future__ import annotations

import json
import secrets
from datetime import date
from decimal import Decimal

import pytest

from plugin import tokens

TODAY = date.today().isoformat()


def reconcile(counter, expect: int = 200) -> dict:
    r = counter.http.post("/v1/reconciliation", {"date": TODAY})
    assert r.status_code == expect, r.text
    return r.json()


def sent(counter, since: int = 0) -> list[str]:
    """The infnos the sandbox accepted, in order (its message log), from entry ``since`` on; sign-ins left out."""
    entries = counter.sandbox_http.get("/sandbox/messages").json()["messages"]
    return [e["infno"] for e in entries[since:] if e["verdict"] == "accepted" and e["infno"] != "9001"]


def log_length(counter) -> int:
    return len(counter.sandbox_http.get("/sandbox/messages").json()["messages"])


# -- one counter ---------------------------------------------------------------------------------------------------
def test_a_day_with_a_refund_reconciles_through_the_detail_file_with_no_difference(counter):
    kept = counter.sell(2)
    returned = counter.sell(1)
    assert counter.http.post(f"/v1/sales/{returned['id']}/refund").status_code == 200
    since = log_length(counter)
    report = reconcile(counter)
    assert report["ok"] and report["differences"] == [] and report["repairs"] == []
    assert report["sales"] == 2                                    # the refunded settlement is in the file, flagged
    [totals] = report["totals"]
    assert (totals["insutype"], totals["clr_type"], totals["stmt_rslt"]) == ("310", "41", "0")
    assert totals["ours"]["fixmedins_setl_cnt"] == 1
    assert totals["ours"]["medfee_sumamt"] == kept["split"]["medfee_sumamt"]
    assert sent(counter, since) == ["3201", "9101", "3202", "9102"]


def test_an_empty_day_still_asks_the_centre_and_a_sale_outside_insurance_is_not_reconciled(counter):
    since = log_length(counter)
    report = reconcile(counter)
    assert report["ok"] and report["sales"] == 0 and report["totals"] == []
    assert sent(counter, since) == ["9101", "3202", "9102"]


def test_every_kind_of_difference_is_listed_and_none_is_repaired_by_guessing(counter_factory):
    counter = counter_factory()
    a, b, c = (counter.sell(1) for _ in range(3))
    stranger = counter_factory("unlisted-counter", store={"counter_no": 2}).sell(1)   # not a configured peer
    with counter.svc.ledger.transaction() as conn:   # a damaged ledger, as a restored backup or a hand edit leaves it
        conn.execute("UPDATE sales SET insurer_json = json_set(insurer_json, '$.medfee_sumamt', '4838.00') "
                     "WHERE id = ?", (a["id"],))
        conn.execute("UPDATE sales SET state = 'refunded' WHERE id = ?", (b["id"],))
        conn.execute("UPDATE sales SET setl_id = 'ST-NOT-AT-THE-INSURER' WHERE id = ?", (c["id"],))
    report = reconcile(counter)
    got = {(d["kind"], d.get("setl_id")) for d in report["differences"]}
    assert ("data_differ", a["setl_id"]) in got and ("data_differ", b["setl_id"]) in got
    assert ("pharmacy_has_more", "ST-NOT-AT-THE-INSURER") in got
    assert ("centre_has_more", c["setl_id"]) in got and ("centre_has_more", stranger["setl_id"]) in got
    assert any(d["kind"] == "totals_differ" for d in report["differences"])
    assert report["repairs"] == [] and report["ok"] is False
    amount = next(d for d in report["differences"] if d.get("setl_id") == a["setl_id"])
    assert amount["fields"] == ["medfee_sumamt"]
    assert (amount["ours"]["medfee_sumamt"], amount["insurer"]["medfee_sumamt"]) == ("4838.00", "4837.00")
    refund = next(d for d in report["differences"] if d.get("setl_id") == b["setl_id"])
    assert refund["fields"] == ["refd_setl_flag"] and refund["sale_id"] == b["id"]
    only_there = next(d for d in report["differences"] if d.get("setl_id") == stranger["setl_id"])
    assert only_there["msgid"] and only_there["sale_id"] is None
    # the insurer's person numbers are masked for a caller without the pii scope (the counter PC's loopback caller)
    named = [d["psn_no"] for d in report["differences"] if d.get("psn_no")]
    assert named and all("*" in p for p in named), named


def test_a_settlement_the_centre_holds_for_a_sale_held_in_doubt_is_recorded_and_audited(counter):
    counter.sell(1)                                             # the day has a settlement under the agency
    sale = counter.sell(1, settle=False)
    counter.sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    r = counter.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT"
    report = reconcile(counter)
    found = next(d for d in report["differences"] if d["kind"] == "centre_has_more")
    assert found["sale_id"] == sale["id"] and found["repaired"] is True
    [repair] = report["repairs"]
    assert (repair["kind"], repair["sale_id"], repair["state"]) == ("recorded_settled", sale["id"], "settled")
    assert report["remaining"] == [] and report["ok"] is True
    mine = counter.sale(sale["id"])
    theirs = next(s for s in counter.insurer()["settlements"] if s["setl_id"] == mine["setl_id"])
    assert (mine["state"], theirs["state"]) == ("settled", "settled")
    assert Decimal(mine["split"]["medfee_sumamt"]) == Decimal(theirs["medfee_sumamt"])


def test_a_refusal_of_3202_is_the_insurers_and_nothing_is_half_done(counter):
    counter.sell(1)
    counter.sandbox_http.post("/sandbox/faults", {"infno": "3202", "mode": "error", "times": 1})
    r = counter.http.post("/v1/reconciliation", {"date": TODAY})
    assert r.status_code == 502 and r.json()["error"]["code"] == "UPSTREAM_REFUSED"
    assert reconcile(counter)["ok"] is True


# -- one reconciliation per store ----------------------------------------------------------------------------------
@pytest.fixture
def store(counter_factory):
    """Three counters of one pharmacy: two others first, then the lead that lists them."""
    # the lead's token: a secret on the lead, its hash in the others' settings. Counter B listens on the store's
    # network, so every call to it needs a token.
    lead_token = "rxl_" + secrets.token_urlsafe(32)
    follow = {"lead_token_sha256": tokens.digest(lead_token)}
    b = counter_factory("counter-b", store={"counter_no": 2}, server={"require_tokens": True}, reconcile=follow)
    c = counter_factory("counter-c", store={"counter_no": 3}, reconcile=follow)
    a = counter_factory("counter-a", store={"counter_no": 1},
                        reconcile={"peers": [b.http.base, c.http.base], "peer_token": lead_token})
    for other in (b, c):
        other.svc.settings.reconcile.lead = a.http.base   # where their files would name it
    return a, b, c


def test_three_counters_reconcile_once_for_the_store_with_no_false_difference(store):
    a, b, c = store
    for counter in (a, b, c):
        counter.sell(1)
    refunded = b.sell(1)
    assert b.http.post(f"/v1/sales/{refunded['id']}/refund").status_code == 200
    since = log_length(a)
    report = reconcile(a)
    assert report["ok"] and report["differences"] == [] and report["counters"] == 3
    assert report["sales"] == 4
    assert sent(a, since) == ["3201", "9101", "3202", "9102"]          # once for the store
    [totals] = report["totals"]
    assert totals["ours"]["fixmedins_setl_cnt"] == 3
    r = b.http.post("/v1/reconciliation", {"date": TODAY})
    assert r.status_code == 409 and r.json()["error"]["code"] == "RECONCILED_BY_LEAD"
    assert r.json()["error"]["details"]["lead"] == a.http.base


def test_the_lead_alone_would_see_the_other_counters_sales_as_the_centres(store):
    a, b, _ = store
    a.sell(1)
    b.sell(1)
    a.svc.settings.reconcile.peers = []
    report = reconcile(a)
    assert not report["ok"] and {d["kind"] for d in report["differences"]} >= {"centre_has_more"}


def test_a_counter_that_cannot_be_asked_stops_the_run_before_anything_is_sent(store):
    a, b, c = store
    a.sell(1)
    c.sell(1)
    a.svc.settings.reconcile.peer_token = "rxl_not-the-token"
    since = log_length(a)
    r = a.http.post("/v1/reconciliation", {"date": TODAY})
    assert r.status_code == 503 and r.json()["error"]["code"] == "RECONCILE_PEER_UNAVAILABLE"
    assert r.json()["error"]["details"] == {"counter": b.http.base, "reason": "HTTP 401 UNAUTHORIZED"}
    assert sent(a, since) == []


def test_a_counter_of_another_pharmacy_is_never_mixed_in(counter_factory):
    other = counter_factory("elsewhere", store={"fixmedins_code": "P36010200099"})
    lead = counter_factory("lead", reconcile={"peers": [other.http.base]})
    r = lead.http.post("/v1/reconciliation", {"date": TODAY})
    assert r.status_code == 503 and r.json()["error"]["details"]["reason"] == "a counter of another pharmacy"


def test_the_rows_a_counter_gives_the_lead_need_the_reconcile_scope_beyond_loopback(store):
    _, b, _ = store
    r = b.http.get(f"/v1/reconciliation/rows?date={TODAY}")        # the POS token: scope sales only
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


def test_reconciliation_refuses_a_date_that_is_not_a_calendar_day(counter):
    for bad in ({"date": "2025-02-30"}, {"date": "yesterday"}, {}):
        r = counter.http.post("/v1/reconciliation", bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT", (bad, r.text)
    r = counter.http.get("/v1/reconciliation/rows?date=soon")
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT"


def test_the_reconcile_command_prints_the_days_report_and_the_gateway_it_used(counter):
    from click.testing import CliRunner

    from plugin.commands.reconcile import reconcile as reconcile_command
    counter.sell(1)
    env = {"RXLANE_NHSA__URL": counter.svc.gateway_url}
    result = CliRunner().invoke(reconcile_command, ["--date", TODAY, "--data-dir",
                                                    str(counter.svc.ledger.path.parent)], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["date"] == TODAY and report["ok"] is True and report["sales"] == 1
    assert report["gateway"] == {"url": counter.svc.gateway_url, "gateway": counter.svc.gateway_url,
                                 "profile": "national", "source": "the configuration (no service is running)"}
    bad = CliRunner().invoke(reconcile_command, ["--date", "2025-13-01"], env=env)
    assert bad.exit_code == 2
