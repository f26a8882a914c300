"""What the pharmacy reports after a sale: 【3505】商品销售 (with the packs' trace codes), 【3506】商品销售退货,
【7204】处方审核结果上传 and 【7206】处方核销 (docs/gateway.md 3505–3506, 7204, 7206).

(Being rebuilt to the real interface: one ``selinfo`` object per 3505 message or a 3505A batch, every required
field, the business result ``retRslt``; see docs/gateway.md.)
"""
from __future__ import annotations

from typing import Any, Iterable

from adapters.nhsa.reading import as_rows
from adapters.nhsa.settlement import SetlInfo
from adapters.nhsa.money import wire


# -- 3505 / 3506 商品销售 / 退货 -----------------------------------------------------------------------------------------
def sale_upload_input(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """3505: each line carries the docs/gateway.md fields and ``drugtracinfo: [{drug_trac_codg}]`` (one per package)."""
    return {"selinfo": [dict(line) for line in lines]}


def sale_return_input(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """3506: as 3505, each line also carrying ``medins_prod_sel_no`` (the original sale's document number)."""
    return {"selinfo": [dict(line) for line in lines]}


def trace_codes(line: dict[str, Any]) -> list[str]:
    """Codes of one 3505/3506 line, new spec (``drugtracinfo`` list) or old (one ``drug_trac_codg``)."""
    codes = [str(t.get("drug_trac_codg")) for t in as_rows(line.get("drugtracinfo")) if t.get("drug_trac_codg")]
    if not codes and line.get("drug_trac_codg"):
        codes = [str(line["drug_trac_codg"])]
    return codes


def rx_review_input(*, hi_rxno: str, phar_code: str, phar_name: str, rx_chk_stas_codg: str = "1",
                    rx_chk_opnn: str = "", rx_chk_time: str = "") -> dict[str, Any]:
    return {"data": {"hi_rxno": hi_rxno, "phar_code": phar_code, "phar_name": phar_name,
                     "rx_chk_stas_codg": rx_chk_stas_codg, "rx_chk_opnn": rx_chk_opnn, "rx_chk_time": rx_chk_time}}


def dispense_result_input(*, hi_rxno: str, setl_id: str, setl: SetlInfo | None = None, setl_time: str = "",
                          selinfo: Iterable[dict[str, Any]] = (), pay_mode: str = "1",
                          cancel: bool = False) -> dict[str, Any]:
    """7206 dispensing result; ``cancel=True`` (sandbox ``rx_stas_codg: "cancel"``) reopens the prescription after
    a refund (2103) so the patient can buy again."""
    data: dict[str, Any] = {"hi_rxno": hi_rxno, "setl_id": setl_id, "payMode": pay_mode,
                            "setl_time": setl_time or (setl.setl_time if setl else "")}
    if setl is not None:
        for name in ("fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay"):
            data[name] = wire(setl.amounts[name])
    if cancel:
        data["rx_stas_codg"] = "cancel"
    return {"data": data, "selinfo": [dict(s) for s in selinfo]}
