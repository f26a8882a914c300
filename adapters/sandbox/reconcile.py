"""Sandbox handlers for daily reconciliation: 3201 totals (对总账) and 3202 details (明细对账).

The insurer's side counts this pharmacy's (envelope ``fixmedins_code``) settlements whose ``setl_time`` falls in
``stmt_begndate``–``stmt_enddate``: settled ones count in the totals; cancelled ones appear in 3202 as refunded
rows (``refd_setl_flag`` "1"); reversed ones never happened. 3202 takes the pharmacy's rows inline (``detail``)
and answers the differing rows inline *(sandbox; the real gateway exchanges files through 9101/9102)*.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from adapters.sandbox.books import ZERO, Books, Settlement, money_str
from adapters.sandbox.messages import Message, Refusal, amount, handles, need, text

COMPARED = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")


def _range(data: dict[str, Any]) -> tuple[date, date]:
    need(data, "stmt_begndate", "stmt_enddate")
    try:
        begin = date.fromisoformat(text(data, "stmt_begndate")[:10])
        end = date.fromisoformat(text(data, "stmt_enddate")[:10])
    except ValueError:
        raise Refusal("对账日期格式应为yyyy-MM-dd") from None
    if end < begin:
        raise Refusal("对账结束日期不能早于开始日期")
    return begin, end


def _in_range(books: Books, msg: Message, begin: date, end: date) -> list[Settlement]:
    code = msg.field("fixmedins_code")
    return [s for s in books.settlements.values()
            if s.fixmedins_code == code and s.state != "reversed"
            and begin <= date.fromisoformat(s.setl_time[:10]) <= end]


@handles("3201")
def totals(books: Books, msg: Message) -> dict[str, Any]:
    data = msg.data
    begin, end = _range(data)
    insutype = text(data, "insutype")
    rows = [s for s in _in_range(books, msg, begin, end)
            if s.state == "settled" and (not insutype or s.insutype == insutype)]
    ours = {k: sum((s.split[k] for s in rows), ZERO) for k in COMPARED}
    theirs = {k: amount(data, k) for k in COMPARED}
    need(data, "fixmedins_setl_cnt")
    try:
        count = int(str(data["fixmedins_setl_cnt"]))
    except ValueError:
        raise Refusal("参数[fixmedins_setl_cnt]不是有效的整数") from None
    diffs = [k for k in COMPARED if ours[k] != theirs[k]] + (["fixmedins_setl_cnt"] if count != len(rows) else [])
    result = {"stmt_rslt": "1" if diffs else "0",
              "stmt_rslt_dscr": "对账不平：" + "、".join(diffs) if diffs else "对账平",
              "insurer_totals": {**{k: money_str(v) for k, v in ours.items()}, "fixmedins_setl_cnt": len(rows)}}
    return {"data": result}


def _row_amounts(row: dict[str, Any]) -> dict[str, Decimal]:
    return {k: amount(row, k) for k in COMPARED}


@handles("3202")
def details(books: Books, msg: Message) -> dict[str, Any]:
    data = msg.data
    begin, end = _range(data)
    insurer = {s.setl_id: s for s in _in_range(books, msg, begin, end)}
    pharmacy: dict[str, dict[str, Any]] = {}
    for row in msg.rows("detail"):
        need(row, "setl_id", *COMPARED)
        pharmacy[text(row, "setl_id")] = row
    differences = []
    for setl_id, row in pharmacy.items():
        s = insurer.get(setl_id)
        theirs = _row_amounts(row)
        refunded = text(row, "refd_setl_flag") == "1"
        if s is None:
            differences.append({"setl_id": setl_id, "kind": "missing_at_insurer",
                                **{f"fixmedins_{k}": money_str(v) for k, v in theirs.items()}})
            continue
        if refunded != (s.state == "cancelled"):
            differences.append({"setl_id": setl_id, "kind": "state_differs", "insurer_state": s.state,
                                "fixmedins_refd_setl_flag": "1" if refunded else "0"})
        for k in COMPARED:
            if s.split[k] != theirs[k]:
                differences.append({"setl_id": setl_id, "kind": "amount_differs", "field": k,
                                    "insurer": money_str(s.split[k]), "fixmedins": money_str(theirs[k])})
    for setl_id, s in insurer.items():
        if setl_id not in pharmacy:
            differences.append({"setl_id": setl_id, "kind": "missing_at_fixmedins", "psn_no": s.psn_no,
                                "insurer_state": s.state, **{k: money_str(s.split[k]) for k in COMPARED}})
    return {"data": {"stmt_rslt": "1" if differences else "0",
                     "stmt_rslt_dscr": f"明细不符{len(differences)}条" if differences else "明细相符",
                     "differences": differences}}
