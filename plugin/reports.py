"""The monthly dual-channel report (docs/architecture.md, docs/pos-integration.md `GET /v1/reports/monthly`): what one
store sold in a month.

Chain HQ and the insurer's agency both read it, so its totals must equal the ledger's to the fen: every amount is a
``Decimal`` summed from the insurer's own split (the sale's recorded split), never a float, and the per-institution and
per-drug tables add up to the totals exactly.

What counts: a sale counts in the month of its business day (``biz_date``) when it was settled — state ``settled``
or ``refunded`` (a refunded sale was a sale, and is also a refund, in the sale's month). ``prescriptions`` counts
distinct prescriptions (``hi_rxno``): one sold, refunded and sold again is one prescription and two ``sales``; a sale
without a prescription number counts as its own. ``net_medfee_sumamt`` is the medical fees less the refunded ones,
in the totals and per day. Insurer refusals are journal rows in state ``refused`` written that month, grouped by
``err_msg``.

Per-drug fund and personal shares: the insurer splits a whole sale, not each line, so a sale's fund share is
allocated to its lines pro rata to each line's in-scope amount (``inscp_scp_amt`` from the insurer's line detail,
or the line total when absent), rounded half-up to the fen with the last line taking the remainder; a line's personal
share is its total less its fund share. Per-drug sums therefore equal the totals exactly.

`fetch_month` is the only function here that reads the ledger; `build_monthly` is pure over its rows.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from plugin.errors import InvalidInput
from plugin.money import fen, wire

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ZERO = Decimal("0")
COUNTED_STATES = ("settled", "refunded")
REFUNDED = "refunded"
CSV_COLUMNS = ("section", "code", "name", "category", "prescriptions", "patients", "packs", "medfee_sumamt",
               "fund_pay_sumamt", "personal_pay", "refunds", "refund_amount", "count", "sales", "net_medfee_sumamt")


def month_bounds(month: str) -> tuple[str, str]:
    """'2026-11' → ('2026-11-01', '2026-12-01'): the half-open range of ISO dates and timestamps in the month."""
    m = MONTH_RE.match(month or "")
    if not m:
        raise InvalidInput(f"month: {month!r} is not a month written YYYY-MM", "月份格式应为 YYYY-MM，例如 2026-11。",
                           field="month")
    year, mon = int(m.group(1)), int(m.group(2))
    try:
        start = date(year, mon, 1)
        end = date(year + (mon == 12), mon % 12 + 1, 1)
    except ValueError:   # year 0000, or 9999-12 whose next month is past the calendar
        raise InvalidInput(f"month: {month!r} is outside the calendar", "月份超出有效范围。", field="month") from None
    return start.isoformat(), end.isoformat()


@dataclass
class MonthRows:
    """The ledger rows one month's report is built from (plain dicts: the builder never touches SQLite)."""
    month: str
    sales: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)


def fetch_month(ledger: Any, month: str) -> MonthRows:
    start, end = month_bounds(month)
    sales, lines = ledger.sales.of_month(start, end, COUNTED_STATES)
    return MonthRows(
        month,
        [{"id": s.id, "biz_date": s.biz_date, "state": s.state.value, "psn_no": s.psn_no, "rx": s.rx or {},
          "hi_rxno": s.hi_rxno or "",
          "medfee_sumamt": f"{s.medfee_sumamt:.2f}", "split": s.split.to_dict() if s.split else {}} for s in sales],
        [{"sale_id": sale_id, "line_no": ln.line_no, "med_list_codg": ln.med_list_codg,
          "generic_name": ln.generic_name, "category": ln.category, "qty": str(ln.qty),
          "line_total": f"{ln.line_total:.2f}"} for sale_id, ln in lines],
        ledger.journal.refusals_between(start, end))


def monthly(ledger, month: str, store: dict[str, Any] | None = None) -> dict[str, Any]:
    """The month's report as JSON-ready data (money as two-decimal strings)."""
    return build_monthly(fetch_month(ledger, month), store)


# -- the pure part ---------------------------------------------------------------------------------------------
class _Tally:
    def __init__(self) -> None:
        self.sales: set[str] = set()
        self.prescriptions: set[str] = set()
        self.patients: set[str] = set()
        self.packs = ZERO
        self.medfee = ZERO
        self.fund = ZERO
        self.personal = ZERO
        self.refunds: set[str] = set()
        self.refund_amount = ZERO

    def add(self, sale: dict, medfee: Decimal, fund: Decimal, personal: Decimal, packs: Decimal) -> None:
        self.sales.add(sale["id"])
        self.prescriptions.add(_prescription_of(sale))
        self.patients.add(sale["psn_no"])
        self.packs += packs
        self.medfee += medfee
        self.fund += fund
        self.personal += personal
        if sale["state"] == REFUNDED:
            self.refunds.add(sale["id"])
            self.refund_amount += medfee

    def figures(self) -> dict[str, Any]:
        return {"prescriptions": len(self.prescriptions), "sales": len(self.sales), "patients": len(self.patients),
                "packs": _qty(self.packs),
                "medfee_sumamt": wire(self.medfee), "fund_pay_sumamt": wire(self.fund),
                "personal_pay": wire(self.personal), "refunds": len(self.refunds),
                "refund_amount": wire(self.refund_amount)}


def _prescription_of(sale: dict) -> str:
    """What makes two sales one prescription: its number; a sale without one stands alone."""
    held = sale.get("rx")
    rx: dict[str, Any] = held if isinstance(held, dict) else {}
    rxno = sale.get("hi_rxno") or rx.get("hi_rxno")
    return f"rx:{rxno}" if rxno else f"sale:{sale['id']}"


def _qty(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _split_of(sale: dict) -> dict[str, Any]:
    split = sale.get("split")
    return split if isinstance(split, dict) else {}


def _money(split: dict, key: str, fallback: Any = "0") -> Decimal:
    return fen(split.get(key, fallback) or fallback)


def _allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`total` shared pro rata to `weights`, half-up to the fen; the last share takes the remainder."""
    if not weights:
        return []
    whole = sum(weights, ZERO)
    if whole == 0:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    shares = [fen(total * w / whole) for w in weights[:-1]]
    return shares + [total - sum(shares, ZERO)]


def _line_weights(lines: list[dict], split: dict) -> list[Decimal]:
    found = split.get("lines")
    detail: list[Any] = found if isinstance(found, list) else []
    weights = []
    for i, line in enumerate(lines):
        d = detail[i] if i < len(detail) and isinstance(detail[i], dict) else {}
        same = d.get("med_list_codg") in (None, line["med_list_codg"])
        weights.append(fen(d["inscp_scp_amt"]) if same and "inscp_scp_amt" in d else fen(line["line_total"]))
    return weights


def build_monthly(rows: MonthRows, store: dict[str, Any] | None = None) -> dict[str, Any]:
    lines_of: dict[str, list[dict]] = {}
    for line in rows.lines:
        lines_of.setdefault(line["sale_id"], []).append(line)
    total, acct, cash = _Tally(), ZERO, ZERO
    by_inst: dict[tuple[str, str], _Tally] = {}
    by_drug: dict[tuple[str, str], _Tally] = {}
    daily: dict[str, _Tally] = {}
    for sale in rows.sales:
        split = _split_of(sale)
        medfee = _money(split, "medfee_sumamt", sale["medfee_sumamt"])
        fund = _money(split, "fund_pay_sumamt")
        sale_acct, sale_cash = _money(split, "acct_pay"), _money(split, "psn_cash_pay")
        acct, cash = acct + sale_acct, cash + sale_cash
        lines = lines_of.get(sale["id"], [])
        packs = sum((Decimal(ln["qty"]) for ln in lines), ZERO)
        total.add(sale, medfee, fund, sale_acct + sale_cash, packs)
        rx = sale.get("rx") if isinstance(sale.get("rx"), dict) else {}
        rx = rx if isinstance(rx, dict) else {}
        inst = (str(rx.get("institution_code") or ""), str(rx.get("institution_name") or ""))
        by_inst.setdefault(inst, _Tally()).add(sale, medfee, fund, sale_acct + sale_cash, packs)
        daily.setdefault(sale["biz_date"], _Tally()).add(sale, medfee, fund, sale_acct + sale_cash, packs)
        for line, line_fund in zip(lines, _allocate(fund, _line_weights(lines, split)), strict=True):
            amount = fen(line["line_total"])
            by_drug.setdefault((line["generic_name"], line["category"]), _Tally()).add(
                sale, amount, line_fund, amount - line_fund, Decimal(line["qty"]))
    refusals: dict[str, dict[str, Any]] = {}
    for r in rows.refusals:
        entry = refusals.setdefault(r["err_msg"], {"err_msg": r["err_msg"], "count": 0, "infnos": []})
        entry["count"] += r["n"]
        entry["infnos"] = sorted({*entry["infnos"], r["infno"]})
    totals = total.figures()
    totals.update(acct_pay=wire(acct), psn_cash_pay=wire(cash),
                  net_medfee_sumamt=wire(total.medfee - total.refund_amount),
                  refusals=sum(r["count"] for r in refusals.values()))
    return {
        "report": "monthly", "month": rows.month, "store": store or {},
        "totals": totals,
        "by_drug": [{"generic_name": g, "category": c, **t.figures()} for (g, c), t in sorted(by_drug.items())],
        "by_institution": [{"institution_code": code, "institution_name": name, **t.figures()}
                           for (code, name), t in sorted(by_inst.items())],
        "refusals": sorted(refusals.values(), key=lambda r: (-r["count"], r["err_msg"])),
        "daily": [{"date": d, "prescriptions": len(t.prescriptions), "sales": len(t.sales),
                   "medfee_sumamt": wire(t.medfee), "fund_pay_sumamt": wire(t.fund),
                   "refund_amount": wire(t.refund_amount), "net_medfee_sumamt": wire(t.medfee - t.refund_amount)}
                  for d, t in sorted(daily.items())],
    }


# -- formats ---------------------------------------------------------------------------------------------------
def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def to_csv(report: dict[str, Any]) -> str:
    """One table, a `section` column saying which part each row is (total, drug, institution, refusal, daily)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerow({"section": "total", **report["totals"], "count": report["totals"]["refusals"]})
    for d in report["by_drug"]:
        writer.writerow({"section": "drug", "name": d["generic_name"], **d})
    for i in report["by_institution"]:
        writer.writerow({"section": "institution", "code": i["institution_code"], "name": i["institution_name"],
                         **i})
    for r in report["refusals"]:
        writer.writerow({"section": "refusal", "code": " ".join(r["infnos"]), "name": r["err_msg"],
                         "count": r["count"]})
    for d in report["daily"]:
        writer.writerow({"section": "daily", "code": d["date"], **d})
    return buf.getvalue()


def cjk_font() -> str | None:
    """A font family that has Chinese glyphs, if one is installed (else titles fall back to English only)."""
    from matplotlib import font_manager
    names = {f.name for f in font_manager.fontManager.ttflist}
    for wanted in ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                   "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC"):
        if wanted in names:
            return wanted
    return None


def _month_days(month: str) -> list[date]:
    start, end = (date.fromisoformat(d) for d in month_bounds(month))
    return [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal())]


def monthly_figure(report: dict[str, Any]) -> Any:
    """The month as a chart (a matplotlib ``Figure``, object API with the Agg canvas: no global state): every day of
    the month on a date axis; bars of medical fees and the fund's share; a line of the net fees after refunds.
    The legend stands beside the plot, so it can never cover a bar."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font = cjk_font()
    days = _month_days(report["month"])
    x = [float(v) for v in mdates.date2num(days)]
    by_day = {d["date"]: d for d in report["daily"]}

    def series(key: str) -> list[float]:   # floats for drawing only, never for sums
        return [float(by_day.get(day.isoformat(), {}).get(key, "0")) for day in days]

    fig = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.08, right=0.76, top=0.86, bottom=0.12)
    ax = fig.add_subplot(1, 1, 1)
    props: dict[str, Any] = {"fontfamily": font} if font else {}
    ax.bar(x, series("medfee_sumamt"), width=0.8, color="#9ecae1",
           label="医疗费总额 medfee" if font else "medfee_sumamt")
    ax.bar(x, series("fund_pay_sumamt"), width=0.5, color="#3182bd",
           label="基金支付 fund share" if font else "fund_pay_sumamt")
    ax.plot(x, series("net_medfee_sumamt"), color="#d94801", marker="o", markersize=3, linewidth=1.5,
            label="退费后净额 net of refunds" if font else "net of refunds")
    ax.xaxis.set_major_locator(mdates.DayLocator(bymonthday=(1, 5, 10, 15, 20, 25)))
    ax.xaxis.set_minor_locator(mdates.DayLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.set_xlim(x[0] - 0.6, x[-1] + 0.6)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    store = report.get("store") or {}
    name = store.get("fixmedins_name", "") if font else store.get("fixmedins_code", "")
    t = report["totals"]
    title = (f"{name} 双通道药品月报 {report['month']}" if font else f"{name} dual-channel report {report['month']}")
    ax.set_title(f"{title}\n{t['prescriptions']} rx, medfee {t['medfee_sumamt']}, net {t['net_medfee_sumamt']}, "
                 f"fund {t['fund_pay_sumamt']}", **props)
    ax.set_xlabel("日期 date" if font else "date", **props)
    ax.set_ylabel("元 CNY" if font else "CNY", **props)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              prop={"family": font, "size": 9} if font else {"size": 9})
    if not report["daily"]:
        ax.text(0.5, 0.5, "无销售 no sales" if font else "no sales", ha="center", va="center",
                transform=ax.transAxes, **props)
    return fig


def to_png(report: dict[str, Any]) -> bytes:
    """The chart of ``monthly_figure`` as a 1000×500 PNG."""
    buf = io.BytesIO()
    monthly_figure(report).savefig(buf, format="png")
    return buf.getvalue()


FORMATS = {"json": ("application/json", lambda r: to_json(r).encode("utf-8")),
           "csv": ("text/csv; charset=utf-8", lambda r: to_csv(r).encode("utf-8-sig")),
           "png": ("image/png", to_png)}


def render(report: dict[str, Any], fmt: str) -> tuple[str, bytes]:
    """(media type, bytes) of the report in ``json``, ``csv`` (UTF-8 with BOM, so Excel reads 中文) or ``png``."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of json, csv, png", "报表格式应为 json、csv 或 png。",
                           field="format")
    media, make = FORMATS[fmt]
    return media, make(report)
