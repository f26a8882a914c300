"""The monthly report: its totals equal the ledger's to the fen, and its tables add up to its totals."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from decimal import Decimal

import pytest
from click.testing import CliRunner
from PIL import Image

from plugin import reports
from plugin.errors import InvalidInput
from plugin.cli import main

D0 = Decimal("0")


def ledger_truth(ledger, month="2026-11"):
    """The ledger's own figures, summed straight from SQL rows with Decimal (independent of plugin.reports)."""
    rows = ledger.query("SELECT * FROM sales WHERE biz_date LIKE ? AND state IN ('settled', 'refunded')",
                        (f"{month}-%",))
    splits = [json.loads(r["split_json"]) for r in rows]
    lines = ledger.query("SELECT l.* FROM sale_lines l JOIN sales s ON s.id = l.sale_id WHERE s.biz_date LIKE ? "
                         "AND s.state IN ('settled', 'refunded')", (f"{month}-%",))
    return {
        "prescriptions": len(rows), "patients": len({r["psn_no"] for r in rows}),
        "packs": sum((Decimal(ln["qty"]) for ln in lines), D0),
        "medfee": sum((Decimal(s["medfee_sumamt"]) for s in splits), D0),
        "fund": sum((Decimal(s["fund_pay_sumamt"]) for s in splits), D0),
        "personal": sum((Decimal(s["acct_pay"]) + Decimal(s["psn_cash_pay"]) for s in splits), D0),
        "refunds": sum(1 for r in rows if r["state"] == "refunded"),
        "refund_amount": sum((Decimal(s["medfee_sumamt"]) for r, s in zip(rows, splits, strict=True)
                              if r["state"] == "refunded"),
                             D0),
        "line_totals": sum((Decimal(ln["line_total"]) for ln in lines), D0),
    }


def test_totals_equal_the_ledgers_to_the_fen(month_ledger):
    truth = ledger_truth(month_ledger)
    t = reports.monthly(month_ledger, "2026-11")["totals"]
    assert truth["prescriptions"] > 150 and truth["refunds"] > 5          # the month is a real one
    assert t["prescriptions"] == truth["prescriptions"] and t["patients"] == truth["patients"]
    assert Decimal(t["packs"]) == truth["packs"]
    assert Decimal(t["medfee_sumamt"]) == truth["medfee"] == truth["line_totals"]
    assert Decimal(t["fund_pay_sumamt"]) == truth["fund"]
    assert Decimal(t["personal_pay"]) == truth["personal"]
    assert Decimal(t["acct_pay"]) + Decimal(t["psn_cash_pay"]) == truth["personal"]
    assert (t["refunds"], Decimal(t["refund_amount"])) == (truth["refunds"], truth["refund_amount"])
    assert Decimal(t["net_medfee_sumamt"]) == truth["medfee"] - truth["refund_amount"]


@pytest.mark.parametrize("table", ["by_drug", "by_institution"])
def test_each_table_adds_up_to_the_totals_exactly(month_ledger, table):
    report = reports.monthly(month_ledger, "2026-11")
    t, rows = report["totals"], report[table]
    for key in ("medfee_sumamt", "fund_pay_sumamt", "personal_pay", "refund_amount"):
        assert sum((Decimal(r[key]) for r in rows), D0) == Decimal(t[key]), key
    assert sum((Decimal(r["packs"]) for r in rows), D0) == Decimal(t["packs"])
    if table == "by_institution":                       # each sale has one institution: counts add up too
        assert sum(r["prescriptions"] for r in rows) == t["prescriptions"]
        assert sum(r["refunds"] for r in rows) == t["refunds"]


def test_sales_without_a_prescription_are_their_own_institution_row(month_ledger):
    report = reports.monthly(month_ledger, "2026-11")
    codes = [r["institution_code"] for r in report["by_institution"]]
    assert codes == ["", "H36010000001", "H36010000002"]


def test_self_paid_category_c_lines_get_no_fund_share(month_ledger):
    [c_row] = [d for d in reports.monthly(month_ledger, "2026-11")["by_drug"] if d["category"] == "C"]
    assert c_row["fund_pay_sumamt"] == "0.00" and c_row["personal_pay"] == c_row["medfee_sumamt"]


def test_only_settled_and_refunded_sales_of_the_month_count(month_ledger):
    report = reports.monthly(month_ledger, "2026-11")
    counted = month_ledger.query("SELECT count(*) FROM sales WHERE biz_date LIKE '2026-11-%' "
                                 "AND state IN ('settled', 'refunded')")[0][0]
    everything = month_ledger.query("SELECT count(*) FROM sales")[0][0]
    assert report["totals"]["prescriptions"] == counted < everything - 2
    assert [d["date"] for d in report["daily"]][0] == "2026-11-01" and report["daily"][-1]["date"] == "2026-11-30"
    assert reports.monthly(month_ledger, "2026-10")["totals"]["prescriptions"] == 1     # OUT-BEFORE


def test_insurer_refusals_of_the_month_are_grouped_by_message(month_ledger):
    refusals = reports.monthly(month_ledger, "2026-11")["refusals"]
    assert refusals == [{"err_msg": "处方已失效", "count": 2, "infnos": ["2102"]},
                        {"err_msg": "余额不足", "count": 1, "infnos": ["2102"]}]


def test_json_format_round_trips_to_the_same_report(month_ledger):
    report = reports.monthly(month_ledger, "2026-11")
    media, body = reports.render(report, "json")
    assert media == "application/json" and json.loads(body) == report


def test_csv_parses_and_its_total_row_matches_the_json(month_ledger):
    report = reports.monthly(month_ledger, "2026-11")
    media, body = reports.render(report, "csv")
    assert media.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    sections = Counter(r["section"] for r in rows)
    assert sections == {"total": 1, "drug": len(report["by_drug"]), "institution": len(report["by_institution"]),
                        "refusal": 2, "daily": 30}
    total = rows[0]
    assert total["medfee_sumamt"] == report["totals"]["medfee_sumamt"] and total["count"] == "3"
    assert sum(Decimal(r["fund_pay_sumamt"]) for r in rows if r["section"] == "drug") == \
        Decimal(total["fund_pay_sumamt"])


def test_png_is_an_image_pillow_opens(month_ledger):
    media, body = reports.render(reports.monthly(month_ledger, "2026-11", {"fixmedins_name": "示例大药房"}), "png")
    image = Image.open(io.BytesIO(body))
    assert media == "image/png" and image.format == "PNG" and image.size == (1000, 500)


def test_an_empty_month_still_renders_every_format(month_ledger):
    report = reports.monthly(month_ledger, "2025-01")
    assert report["totals"]["medfee_sumamt"] == "0.00" and report["by_drug"] == []
    for fmt in ("json", "csv", "png"):
        assert reports.render(report, fmt)[1]


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "", "2026-11-01", "November"])
def test_a_bad_month_is_invalid_input(month):
    with pytest.raises(InvalidInput) as caught:
        reports.month_bounds(month)
    assert caught.value.details["field"] == "month"


def test_december_ends_at_the_next_new_year():
    assert reports.month_bounds("2026-12") == ("2026-12-01", "2027-01-01")


def test_cli_writes_the_report_for_a_data_dir(month_ledger, tmp_path):
    data_dir = month_ledger.path.parent
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(main, ["report", "monthly", "--month", "2026-11", "--format", "csv",
                                       "--out", str(out), "--data-dir", str(data_dir)], env={"RXLANE_CHAIN": ""})
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbfsection,")
    result = CliRunner().invoke(main, ["report", "monthly", "--month", "2026-11", "--data-dir", str(data_dir)])
    assert json.loads(result.stdout)["totals"] == reports.monthly(month_ledger, "2026-11")["totals"]


def test_cli_refuses_a_bad_month_and_a_missing_ledger(tmp_path):
    bad = CliRunner().invoke(main, ["report", "monthly", "--month", "2026-13", "--data-dir", str(tmp_path)])
    missing = CliRunner().invoke(main, ["report", "monthly", "--month", "2026-11", "--data-dir", str(tmp_path)])
    assert bad.exit_code == missing.exit_code == 2
    assert "INVALID_INPUT" in bad.output and "NOT_FOUND" in missing.output
    assert not (tmp_path / "ledger.sqlite3").exists()                  # a report never creates a ledger
