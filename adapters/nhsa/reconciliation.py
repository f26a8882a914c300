"""Daily reconciliation with the insurer: 【3201】 totals, 【3202】 details (docs/gateway.md 3201, 3202, 9101, 9102).

(Being rebuilt to the real interface: 3201's answer node ``stmtinfo``; 3202 as a file flow — the detail file
uploaded with 9101, 3202 with its ``file_qury_no``, the result file downloaded with 9102.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from adapters.nhsa.money import money, wire
from adapters.nhsa.reading import as_rows, text as _s


# -- 3201 / 3202 对账 --------------------------------------------------------------------------------------------------
def totals_reconciliation_input(*, stmt_begndate: str, stmt_enddate: str, medfee_sumamt: Decimal,
                                fund_pay_sumamt: Decimal, acct_pay: Decimal, fixmedins_setl_cnt: int,
                                insutype: str = "", clr_type: str = "41", setl_optins: str = "") -> dict[str, Any]:
    return {"data": {"insutype": insutype, "clr_type": clr_type, "setl_optins": setl_optins,
                     "stmt_begndate": stmt_begndate, "stmt_enddate": stmt_enddate,
                     "medfee_sumamt": wire(medfee_sumamt), "fund_pay_sumamt": wire(fund_pay_sumamt),
                     "acct_pay": wire(acct_pay), "fixmedins_setl_cnt": fixmedins_setl_cnt}}


def detail_reconciliation_input(*, stmt_begndate: str, stmt_enddate: str, rows: Iterable[dict[str, Any]],
                                setl_optins: str = "", file_qury_no: str = "") -> dict[str, Any]:
    """3202 with the detail rows inline *(sandbox; the real gateway takes them as a 9101 file)*. Each row:
    ``setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, acct_pay, refd_setl_flag`` ("1" refunded)."""
    rows = [dict(r) for r in rows]
    live = [r for r in rows if str(r.get("refd_setl_flag", "0")) != "1"]
    total = lambda key: wire(sum((money(r.get(key)) for r in live), Decimal("0")))  # noqa: E731
    cash = sum((money(r.get("medfee_sumamt")) - money(r.get("fund_pay_sumamt")) - money(r.get("acct_pay"))
                for r in live), Decimal("0"))
    return {"data": {"setl_optins": setl_optins, "file_qury_no": file_qury_no, "stmt_begndate": stmt_begndate,
                     "stmt_enddate": stmt_enddate, "medfee_sumamt": total("medfee_sumamt"),
                     "fund_pay_sumamt": total("fund_pay_sumamt"), "cash_payamt": wire(cash),
                     "fixmedins_setl_cnt": len(live)},
            "detail": rows}


@dataclass(frozen=True)
class Reconciliation:
    stmt_rslt: str
    stmt_rslt_dscr: str
    differences: tuple[dict[str, Any], ...] = ()
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.stmt_rslt == "0"


def parse_reconciliation(output: dict[str, Any]) -> Reconciliation:
    d = output.get("data") if isinstance(output.get("data"), dict) else output
    return Reconciliation(stmt_rslt=_s(d, "stmt_rslt"), stmt_rslt_dscr=_s(d, "stmt_rslt_dscr"),
                          differences=tuple(as_rows(d.get("differences") or output.get("differences"))),
                          totals=dict(d.get("insurer_totals") or {}))


