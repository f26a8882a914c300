"""`rxlane fleet report DIR`: many stores' monthly JSON reports → one chain report.

Sums are exact (``Decimal``) and per drug / per institution across stores. Two things are refused rather than
guessed: reports of different months in one directory, and the same store twice (it would be counted twice).
``patients`` in the chain report is the sum of each store's distinct patients — a patient who bought at two stores
counts twice, because store reports carry no patient identities (they leave the store; PIPL, docs/security.md).
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from plugin.errors import InvalidInput
from plugin.money import wire

MONEY = ("medfee_sumamt", "fund_pay_sumamt", "personal_pay", "refund_amount")
COUNTS = ("prescriptions", "patients", "refunds")
TOTAL_MONEY = MONEY + ("acct_pay", "psn_cash_pay", "net_medfee_sumamt")


def _add(into: dict[str, Any], figures: dict[str, Any], money: tuple[str, ...] = MONEY) -> None:
    for key in COUNTS + ("refusals",):
        if key in figures:
            into[key] = into.get(key, 0) + int(figures[key])
    for key in money:
        if key in figures:
            into[key] = into.get(key, Decimal("0")) + Decimal(figures[key])
    if "packs" in figures:
        into["packs"] = into.get("packs", Decimal("0")) + Decimal(figures["packs"])


def _out(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: (format(v.normalize(), "f") if k == "packs" else wire(v)) if isinstance(v, Decimal) else v
            for k, v in figures.items()}


def read_reports(directory: str | Path) -> list[tuple[str, dict[str, Any]]]:
    files = sorted(Path(directory).glob("*.json"))
    if not files:
        raise InvalidInput(f"{directory}: no store reports (*.json)", "目录中没有门店月报。", field="directory")
    out = []
    for path in files:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path.name}: not a readable JSON report: {exc}", field=path.name) from None
        if not isinstance(report, dict) or report.get("report") != "monthly" or "totals" not in report:
            raise InvalidInput(f"{path.name}: not an rxlane monthly report", field=path.name)
        out.append((path.name, report))
    return out


def rollup(reports: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    months = sorted({r["month"] for _, r in reports})
    if len(months) != 1:
        raise InvalidInput(f"reports of several months: {', '.join(months)}", "目录中包含多个月份的月报。",
                           field="month")
    seen: dict[str, str] = {}
    stores: list[dict[str, Any]] = []
    totals: dict[str, Any] = {}
    drugs: dict[tuple[str, str], dict[str, Any]] = {}
    insts: dict[tuple[str, str], dict[str, Any]] = {}
    refusals: dict[str, dict[str, Any]] = {}
    daily: dict[str, dict[str, Any]] = {}
    for name, report in reports:
        store = report.get("store") or {}
        key = store.get("fixmedins_code") or name
        if key in seen:
            raise InvalidInput(f"{name}: store {key} already counted from {seen[key]}", "同一门店的月报出现两次。",
                               field=name)
        seen[key] = name
        stores.append({"file": name, **{k: store.get(k, "") for k in ("fixmedins_code", "fixmedins_name", "region")},
                       "prescriptions": report["totals"]["prescriptions"],
                       "medfee_sumamt": report["totals"]["medfee_sumamt"]})
        _add(totals, report["totals"], TOTAL_MONEY)
        for d in report.get("by_drug", []):
            _add(drugs.setdefault((d["generic_name"], d["category"]), {}), d)
        for i in report.get("by_institution", []):
            _add(insts.setdefault((i["institution_code"], i["institution_name"]), {}), i)
        for r in report.get("refusals", []):
            entry = refusals.setdefault(r["err_msg"], {"err_msg": r["err_msg"], "count": 0, "infnos": []})
            entry["count"] += int(r["count"])
            entry["infnos"] = sorted({*entry["infnos"], *r.get("infnos", [])})
        for d in report.get("daily", []):
            _add(daily.setdefault(d["date"], {}), d, ("medfee_sumamt", "fund_pay_sumamt"))
    return {
        "report": "chain_monthly", "month": months[0], "stores": stores, "store_count": len(stores),
        "totals": _out(totals),
        "by_drug": [{"generic_name": g, "category": c, **_out(v)} for (g, c), v in sorted(drugs.items())],
        "by_institution": [{"institution_code": c, "institution_name": n, **_out(v)}
                           for (c, n), v in sorted(insts.items())],
        "refusals": sorted(refusals.values(), key=lambda r: (-r["count"], r["err_msg"])),
        "daily": [{"date": d, **_out(v)} for d, v in sorted(daily.items())],
        "notes": {"patients": "sum of each store's distinct patients; a patient seen at two stores counts twice"},
    }
