"""Monthly reports pushed to HQ: kept per version, a month with other figures flagged (never silently overwritten),
and the chain report built from them with the same numbers `rxlane fleet report` gives on the same files."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugin import reports
from plugin.cli import main
from plugin.hq.enrolment import enroll
from plugin.ledger import Ledger
from tests.fleet.conftest import fill_month
from tests.hq.conftest import bearer


@pytest.fixture
def store_reports(tmp_path):
    """Three stores' November reports from real ledgers, also written as files for `rxlane fleet report`."""
    folder = tmp_path / "reports"
    folder.mkdir()
    made = {}
    for n, seed in enumerate((1, 2, 3)):
        ledger = Ledger(tmp_path / f"l{n}" / "ledger.sqlite3")
        fill_month(ledger, seed=seed, days=10 + n)
        report = reports.monthly(ledger, "2026-11", {"fixmedins_code": f"P0000000000{n}", "fixmedins_name": f"店{n}",
                                                     "region": "jiangxi"})
        ledger.close()
        (folder / f"jx-{n}.json").write_text(reports.to_json(report), encoding="utf-8")
        made[f"jx-{n}"] = json.loads(reports.to_json(report))
    return folder, made


def test_a_report_is_kept_a_resend_is_a_duplicate_and_other_figures_are_kept_and_flagged(hq, store_reports):
    service, http = hq
    _, made = store_reports
    token = enroll(service.db, "jx-0").token
    first = http.post("/v1/hq/reports", json=made["jx-0"], headers=bearer(token))
    assert first.status_code == 201 and first.json()["version"] == 1 and first.json()["flagged"] is False
    again = http.post("/v1/hq/reports", json=made["jx-0"], headers=bearer(token))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    changed = {**made["jx-0"], "totals": {**made["jx-0"]["totals"], "refunds": 99}}
    conflict = http.post("/v1/hq/reports", json=changed, headers=bearer(token))
    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["code"] == "REPORT_CONFLICT" and error["details"]["kept"] is True and error["details"]["version"] == 2
    assert "未覆盖" in error["message_zh"]
    versions = http.get("/v1/hq/stores/jx-0").json()["reports"]
    assert [(v["month"], v["version"], v["flagged"]) for v in versions] == [("2026-11", 2, True), ("2026-11", 1, True)]
    chain = http.get("/v1/hq/reports/chain", params={"month": "2026-11"}).json()
    assert chain["totals"]["refunds"] == 99                                   # the newest version is used…
    assert chain["flagged"] == [{"store_id": "jx-0", "versions": 2, "used_version": 2}]   # …and shown as flagged


def test_the_chain_report_from_pushed_reports_equals_fleet_report_on_the_same_files(hq, store_reports, db_url):
    service, http = hq
    folder, made = store_reports
    for store_id, report in made.items():
        token = enroll(service.db, store_id).token
        assert http.post("/v1/hq/reports", json=report, headers=bearer(token)).status_code == 201
    enroll(service.db, "jx-silent")
    from_files = CliRunner().invoke(main, ["fleet", "report", str(folder)], env={})
    assert from_files.exit_code == 0, from_files.output
    expected = json.loads(from_files.stdout)
    pushed = http.get("/v1/hq/reports/chain", params={"month": "2026-11"}).json()
    for key in ("month", "store_count", "totals", "by_drug", "by_institution", "refusals", "daily"):
        assert pushed[key] == expected[key], key
    assert [s["fixmedins_code"] for s in pushed["stores"]] == [s["fixmedins_code"] for s in expected["stores"]]
    assert pushed["stores_without_report"] == ["jx-silent"] and pushed["flagged"] == []
    cli = CliRunner().invoke(main, ["hq", "report", "--month", "2026-11", "--database-url", db_url], env={})
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["totals"] == expected["totals"]


@pytest.mark.parametrize("body, field", [({"report": "weekly", "month": "2026-11", "totals": {}}, "report"),
                                         ({"report": "monthly", "month": "2026-13", "totals": {}}, "month"),
                                         ({"report": "monthly", "month": "2026-11"}, "report")])
def test_a_body_that_is_not_a_monthly_report_is_refused(hq, body, field):
    service, http = hq
    token = enroll(service.db, "jx-0").token
    r = http.post("/v1/hq/reports", json=body, headers=bearer(token))
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == field


def test_reports_need_a_store_token_and_the_chain_report_a_month_with_reports(hq, store_reports):
    _, http = hq
    _, made = store_reports
    assert http.post("/v1/hq/reports", json=made["jx-0"]).json()["error"]["code"] == "UNAUTHORIZED"
    assert http.post("/v1/hq/reports", json=made["jx-0"],
                     headers=bearer("rxhq_forged")).json()["error"]["code"] == "STORE_UNKNOWN"
    assert http.get("/v1/hq/reports/chain", params={"month": "2026-10"}).status_code == 404
    assert http.get("/v1/hq/reports/chain", params={"month": "soon"}).status_code == 400
