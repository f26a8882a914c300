"""Sandbox handlers for the daily reconciliation: 【3201】 totals and 【3202】 details (docs/reconciliation.md).

The insurer's side counts a pharmacy's (envelope ``fixmedins_code``) settlements whose ``setl_time`` falls in
``stmt_begndate``–``stmt_enddate`` under one clearing agency (``setl_optins``: each settlement's ``clr_optins``,
the pharmacy's division for one that has none): a standing settlement counts in the totals; a cancelled one is in
3202 as a refunded row (``refd_setl_flag`` 1) and in no total; a reversed one never happened.

- 3201 answers ``stmtinfo{setl_optins, stmt_rslt, stmt_rslt_dscr}``: 0 balanced, 1 the centre has more
  settlements, 2 the pharmacy has more, 3 as many but the amounts differ.
- 3202 reads the detail file uploaded with 9101 (files.py) by its ``file_qury_no``: 7 tab-separated columns, UTF-8,
  CRLF, zipped. Its header's total, fund total and count must be those of the file's standing rows (the file has
  no cash column). It answers ``fileinfo`` naming a
  result file (``result.txt`` zipped, the profile's ``result_columns``, ``null`` for no value) that 9102 hands out:
  every row of both sides with its ``stmt_rslt`` — 0 equal, 1 only the centre has it (with its 2102 msgid, so the
  pharmacy can find an in-doubt sale), 2 only the pharmacy has it, 3 the amounts or the refund flag differ.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from adapters.nhsa import reconciliation as tx
from adapters.nhsa.profile import load_profile
from adapters.sandbox.books import ZERO, Books, Settlement
from adapters.sandbox.files import find, store
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


def _agency(s: Settlement, msg: Message) -> str:
    return str(getattr(s, "clr_optins", "") or msg.field("mdtrtarea_admvs"))


def _in_range(books: Books, msg: Message, data: dict[str, Any]) -> list[Settlement]:
    begin, end = _range(data)
    need(data, "setl_optins")
    code, optins = msg.field("fixmedins_code"), text(data, "setl_optins")
    return [s for s in books.settlements.values()
            if s.fixmedins_code == code and s.state != "reversed" and _agency(s, msg) == optins
            and begin <= date.fromisoformat(s.setl_time[:10]) <= end]


def _count(data: dict[str, Any]) -> int:
    need(data, "fixmedins_setl_cnt")
    try:
        return int(str(data["fixmedins_setl_cnt"]).strip())
    except ValueError:
        raise Refusal("参数[fixmedins_setl_cnt]不是有效的整数") from None


def _data(msg: Message) -> dict[str, Any]:
    node = msg.input.get("data")
    if not isinstance(node, dict):
        raise Refusal("交易输入缺少节点[data]")
    return node


@handles("3201")
def totals(books: Books, msg: Message) -> dict[str, Any]:
    data = _data(msg)
    insutype = text(data, "insutype")
    rows = [s for s in _in_range(books, msg, data) if s.state == "settled" and s.insutype == insutype]
    centre = {k: sum((s.split[k] for s in rows), ZERO) for k in COMPARED}
    theirs, count = {k: amount(data, k) for k in COMPARED}, _count(data)
    if count < len(rows):
        rslt, dscr = "1", f"中心多：中心{len(rows)}笔，医药机构{count}笔"
    elif count > len(rows):
        rslt, dscr = "2", f"医药机构多：中心{len(rows)}笔，医药机构{count}笔"
    elif any(centre[k] != theirs[k] for k in COMPARED):
        rslt = "3"
        dscr = "数据不一致：" + "、".join(f"{k} 中心{centre[k]} 医药机构{theirs[k]}" for k in COMPARED
                                     if centre[k] != theirs[k])
    else:
        rslt, dscr = "0", "对账平"
    return {"stmtinfo": {"setl_optins": text(data, "setl_optins"), "stmt_rslt": rslt, "stmt_rslt_dscr": dscr}}


def _columns(msg: Message) -> list[str]:
    profile = getattr(msg, "profile", None) or load_profile("national")
    return list(profile.reconcile.result_columns)


@handles("3202")
def details(books: Books, msg: Message) -> dict[str, Any]:
    data = _data(msg)
    settlements = {s.setl_id: s for s in _in_range(books, msg, data)}
    uploaded = find(books, text(data, "file_qury_no"), msg.field("fixmedins_code"), "upload")
    try:
        rows = tx.read_detail(uploaded.content)
    except ValueError as exc:
        raise Refusal(f"对账明细文件格式不正确：{exc}") from None
    _check_header(data, rows)
    result = [_compare(row, settlements.get(row.setl_id)) for row in rows]
    listed = {row.setl_id for row in rows}
    result += [_only_here(s) for s in settlements.values() if s.setl_id not in listed]
    content = tx.zipped("result.txt", tx.result_text(result, _columns(msg)))
    name = f"3202_{text(data, 'setl_optins')}_{books.now():%Y%m%d%H%M%S}.zip"
    stored = store(books, content=content, filename=name, fixmedins_code=msg.field("fixmedins_code"), kind="result")
    return {"fileinfo": {"file_qury_no": stored.file_qury_no, "filename": stored.filename,
                         "dld_endtime": stored.dld_endtime}}


def _check_header(data: dict[str, Any], rows: list[tx.DetailRow]) -> None:
    live = [r for r in rows if not r.refunded]
    # the file has no cash column: the header's cash_payamt is the pharmacy's own figure, not checked against it
    sums = {"medfee_sumamt": sum((r.medfee_sumamt for r in live), ZERO),
            "fund_pay_sumamt": sum((r.fund_pay_sumamt for r in live), ZERO)}
    for key, value in sums.items():
        if amount(data, key) != value:
            raise Refusal(f"对账汇总[{key}]{amount(data, key)}与明细文件合计{value}不符")
    if _count(data) != len(live):
        raise Refusal(f"对账汇总笔数[fixmedins_setl_cnt]{_count(data)}与明细文件{len(live)}笔不符")


def _centre(s: Settlement) -> dict[str, Decimal]:
    return {k: s.split[k] for k in COMPARED}


def _compare(row: tx.DetailRow, s: Settlement | None) -> tx.ResultRow:
    flag = "1" if row.refunded else "0"
    if s is None:
        return tx.ResultRow(setl_id=row.setl_id, stmt_rslt="2", psn_no=row.psn_no, mdtrt_id=row.mdtrt_id,
                            refd_setl_flag=flag, memo="中心无此结算")
    centre_flag = "1" if s.state == "cancelled" else "0"
    differ = [k for k in COMPARED if s.split[k] != getattr(row, k)] + (["refd_setl_flag"] if flag != centre_flag
                                                                     else [])
    return tx.ResultRow(setl_id=s.setl_id, stmt_rslt="3" if differ else "0", psn_no=s.psn_no, mdtrt_id=s.mdtrt_id,
                        msgid=s.msgid, refd_setl_flag=centre_flag,
                        memo=("不一致：" + "、".join(differ)) if differ else "", **_centre(s))


def _only_here(s: Settlement) -> tx.ResultRow:
    return tx.ResultRow(setl_id=s.setl_id, stmt_rslt="1", psn_no=s.psn_no, mdtrt_id=s.mdtrt_id, msgid=s.msgid,
                        refd_setl_flag="1" if s.state == "cancelled" else "0", memo="医药机构无此结算", **_centre(s))
