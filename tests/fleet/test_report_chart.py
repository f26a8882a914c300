"""`rxlane report monthly` as HQ reads it (issue 19): a date axis over the whole month, a net (after refunds) series,
a legend that covers no data, `prescriptions` counting distinct prescriptions, and no PNG bytes on a terminal."""
from __future__ import annotations

import json
import os
import pty
import random
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from matplotlib import dates as mdates

from plugin import reports
from tests.fleet.conftest import DRUGS, INSTITUTIONS, insert_sale

ROOT = Path(__file__).resolve().parents[2]


def test_the_chart_has_a_date_axis_over_the_whole_month(month_ledger):
    fig = reports.monthly_figure(reports.monthly(month_ledger, "2026-11"))
    ax = fig.axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), mdates.DateFormatter)
    left, right = ax.get_xlim()
    assert left < mdates.date2num(date(2026, 11, 1)) and mdates.date2num(date(2026, 11, 30)) < right
    assert right < mdates.date2num(date(2026, 12, 1))
    labels = [mdates.num2date(t).strftime("%m-%d") for t in ax.get_xticks()]
    assert labels[0] == "11-01" and "11-15" in labels


def test_the_net_series_is_the_fees_less_refunds_each_day(month_ledger):
    report = reports.monthly(month_ledger, "2026-11")
    for day in report["daily"]:
        assert Decimal(day["net_medfee_sumamt"]) == Decimal(day["medfee_sumamt"]) - Decimal(day["refund_amount"])
    assert sum(Decimal(d["net_medfee_sumamt"]) for d in report["daily"]) == \
        Decimal(report["totals"]["net_medfee_sumamt"])
    ax = reports.monthly_figure(report).axes[0]
    [net] = [line for line in ax.get_lines() if "net" in line.get_label()]
    by_day = {d["date"]: Decimal(d["net_medfee_sumamt"]) for d in report["daily"]}
    days = [mdates.num2date(x).date() for x in net.get_xdata()]
    assert days[0] == date(2026, 11, 1) and days[-1] == date(2026, 11, 30) and len(days) == 30
    for day, y in zip(days, net.get_ydata(), strict=True):   # drawn as floats; the report's own figures stay Decimal
        assert abs(float(by_day.get(day.isoformat(), Decimal(0))) - y) < 0.005
    assert any(by_day[d["date"]] != Decimal(d["medfee_sumamt"]) for d in report["daily"])   # refunds show


def test_the_legend_covers_no_data(month_ledger):
    fig = reports.monthly_figure(reports.monthly(month_ledger, "2026-11", {"fixmedins_name": "示例大药房"}))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    plot = ax.get_window_extent(renderer)
    assert legend.x0 >= plot.x1 or legend.y0 >= plot.y1          # beside or above the plot, never on it
    assert legend.x1 <= fig.bbox.x1 and legend.y0 >= fig.bbox.y0   # and inside the picture


def test_prescriptions_count_distinct_prescriptions_and_sales_count_sales(tmp_path):
    from plugin.store import Ledger
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    rng = random.Random(1)
    try:
        line = [(*DRUGS[0], "1")]
        insert_sale(ledger, "S1", "2026-11-02", "refunded", "PSN1", line, INSTITUTIONS[0], rng)
        insert_sale(ledger, "S2", "2026-11-02", "settled", "PSN1", line, INSTITUTIONS[0], rng)
        with ledger.transaction() as c:   # sold, refunded, sold again: one prescription
            c.execute("UPDATE sales SET hi_rxno = 'HX1', rx_json = ? WHERE id IN ('S1', 'S2')",
                      (json.dumps({"hi_rxno": "HX1", "institution_code": INSTITUTIONS[0][0],
                                   "institution_name": INSTITUTIONS[0][1]}),))
        insert_sale(ledger, "S3", "2026-11-03", "settled", "PSN2", line, INSTITUTIONS[2], rng)   # no prescription
        report = reports.monthly(ledger, "2026-11")
    finally:
        ledger.close()
    t = report["totals"]
    assert (t["prescriptions"], t["sales"], t["refunds"]) == (2, 3, 1)
    assert [(d["date"], d["prescriptions"], d["sales"]) for d in report["daily"]] == [
        ("2026-11-02", 1, 2), ("2026-11-03", 1, 1)]
    assert [r["prescriptions"] for r in report["by_drug"]] == [2]


def test_png_without_out_refuses_to_write_to_a_terminal(month_ledger, tmp_path):
    main, sub = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "plugin.cli", "report", "monthly", "--month", "2026-11",
                               "--format", "png", "--data-dir", str(month_ledger.path.parent)],
                              cwd=ROOT, stdout=sub, stderr=subprocess.PIPE, timeout=60,
                              env={**os.environ, "RXLANE_CHAIN": ""})
        os.close(sub)
        sub = -1
        written = b""
        try:
            while chunk := os.read(main, 4096):
                written += chunk
        except OSError:   # EIO: the other side of the pty is closed
            pass
    finally:
        os.close(main)
        if sub >= 0:
            os.close(sub)
    assert proc.returncode == 2
    assert b"PNG" not in written
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "INVALID_INPUT" and "--out" in error["message"] and "终端" in error["message_zh"]
    out = tmp_path / "m.png"
    redirected = subprocess.run([sys.executable, "-m", "plugin.cli", "report", "monthly", "--month", "2026-11",
                                 "--format", "png", "--data-dir", str(month_ledger.path.parent)], cwd=ROOT,
                                stdout=out.open("wb"), stderr=subprocess.PIPE, timeout=60,
                                env={**os.environ, "RXLANE_CHAIN": ""})
    assert redirected.returncode == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
