"""`rxlane fleet report DIR`: store reports rolled up into one chain report with exact sums."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from plugin import reports
from plugin.cli import main
from plugin.store import Ledger


@pytest.fixture
def store_reports(tmp_path, fill_ledger):
    folder = tmp_path / "reports"
    folder.mkdir()
    made = []
    for n, seed in enumerate((1, 2, 3)):
        ledger = Ledger(tmp_path / f"l{n}" / "ledger.sqlite3")
        fill_ledger(ledger, seed=seed, days=10 + n)
        report = reports.monthly(ledger, "2026-11", {"fixmedins_code": f"P0000000000{n}", "fixmedins_name": f"店{n}"})
        ledger.close()
        (folder / f"store-{n}.json").write_text(reports.to_json(report), encoding="utf-8")
        made.append(report)
    return folder, made


def test_chain_totals_and_tables_are_the_exact_sums_of_the_stores(store_reports):
    folder, made = store_reports
    result = CliRunner().invoke(main, ["fleet", "report", str(folder)])
    assert result.exit_code == 0, result.output
    chain = json.loads(result.stdout)
    assert [s["fixmedins_code"] for s in chain["stores"]] == ["P00000000000", "P00000000001", "P00000000002"]
    for key in ("medfee_sumamt", "fund_pay_sumamt", "personal_pay", "refund_amount", "acct_pay", "psn_cash_pay"):
        assert Decimal(chain["totals"][key]) == sum(Decimal(r["totals"][key]) for r in made), key
    assert chain["totals"]["prescriptions"] == sum(r["totals"]["prescriptions"] for r in made)
    osimertinib = [d for d in chain["by_drug"] if d["generic_name"] == "奥希替尼"][0]
    assert Decimal(osimertinib["fund_pay_sumamt"]) == sum(
        Decimal(d["fund_pay_sumamt"]) for r in made for d in r["by_drug"] if d["generic_name"] == "奥希替尼")
    assert sum(Decimal(i["medfee_sumamt"]) for i in chain["by_institution"]) == Decimal(
        chain["totals"]["medfee_sumamt"])
    assert chain["refusals"][0] == {"err_msg": "处方已失效", "count": 6, "infnos": ["2102"]}


def test_the_same_store_twice_is_refused(store_reports):
    folder, _ = store_reports
    (folder / "copy.json").write_text((folder / "store-0.json").read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(main, ["fleet", "report", str(folder)])
    assert result.exit_code == 2 and "already counted" in result.output


def test_reports_of_different_months_are_refused(store_reports):
    folder, made = store_reports
    (folder / "store-9.json").write_text(json.dumps({**made[0], "month": "2026-10", "store": {}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["fleet", "report", str(folder)])
    assert result.exit_code == 2 and "several months" in result.output
