"""Sandbox handlers for 3505 sale upload and 3506 sale return (docs/gateway.md; traceability rules of docs/gateway.md "Drug
traceability codes" and docs/policies.md §6 fraud prevention).

A package code is sold once: 3505 refuses a code already sold and not returned, naming it. A 拆零 line
(``trdn_flag`` "1") may repeat a code that was itself sold split, until the package is used up *(sandbox rule:
the count of open split sales is kept per code)*. 3506 releases the codes it returns. Both accept the old spec (one
``drug_trac_codg`` per line) and the new one (``drugtracinfo`` list, one code per package).
"""
from __future__ import annotations

from typing import Any

from adapters.sandbox.books import Books, Processed
from adapters.sandbox.messages import Message, Refusal, handles, need, text


def _codes(line: dict[str, Any]) -> list[str]:
    info = line.get("drugtracinfo")
    if isinstance(info, dict):
        info = [info]
    codes = [text(t, "drug_trac_codg") for t in info or [] if isinstance(t, dict) and text(t, "drug_trac_codg")]
    if not codes and text(line, "drug_trac_codg"):
        codes = [text(line, "drug_trac_codg")]
    return codes


def _lines(msg: Message, *required: str) -> list[tuple[dict[str, Any], list[str], bool]]:
    rows = msg.rows("selinfo") or ([msg.data] if msg.data else [])
    if not rows:
        raise Refusal("销售明细[selinfo]不能为空")
    out = []
    for row in rows:
        need(row, "med_list_codg", "sel_retn_cnt", *required)
        codes = _codes(row)
        if not codes:
            raise Refusal(f"药品{text(row, 'med_list_codg')}：追溯码[drug_trac_codg]不能为空")
        out.append((row, codes, text(row, "trdn_flag") == "1"))
    return out


def _retrslt(lines: list[tuple[dict[str, Any], list[str], bool]]) -> dict[str, Any]:
    return {"retRslt": [{"med_list_codg": text(row, "med_list_codg"), "fixmedins_bchno": text(row, "fixmedins_bchno"),
                         "rslt_code": "1", "rslt_msg": "成功", "drug_trac_codg_cnt": len(codes)}
                        for row, codes, _ in lines]}


@handles("3505")
def sale_upload(books: Books, msg: Message) -> dict[str, Any]:
    lines = _lines(msg)
    in_message: set[str] = set()
    for row, codes, split in lines:
        for code in codes:
            sold = books.sold_codes.get(code)
            repeat = code in in_message
            if (sold or repeat) and not (split and (sold is None or sold["split"])):
                raise Refusal(f"药品追溯码{code}已销售，不能重复销售")
            if not split:
                in_message.add(code)
    for row, codes, split in lines:
        for code in codes:
            sold = books.sold_codes.setdefault(code, {"count": 0, "split": split, "msgid": msg.msgid})
            sold["count"] += 1
    codes_all = [c for _, codes, _ in lines for c in codes]
    books.uploads.append({"infno": "3505", "msgid": msg.msgid, "codes": codes_all,
                          "setl_id": text(lines[0][0], "setl_id")})
    output = _retrslt(lines)
    books.processed[msg.msgid] = Processed(msg.msgid, "3505", output, codes=tuple(codes_all))
    return output


@handles("3506")
def sale_return(books: Books, msg: Message) -> dict[str, Any]:
    lines = _lines(msg, "medins_prod_sel_no")
    for _, codes, _ in lines:
        for code in codes:
            if code not in books.sold_codes:
                raise Refusal(f"药品追溯码{code}无销售记录，不能退货")
    for _, codes, _ in lines:
        for code in codes:
            sold = books.sold_codes.get(code)
            if sold is None:
                continue
            sold["count"] -= 1
            if sold["count"] <= 0:
                del books.sold_codes[code]
    codes_all = [c for _, codes, _ in lines for c in codes]
    books.uploads.append({"infno": "3506", "msgid": msg.msgid, "codes": codes_all,
                          "setl_id": text(lines[0][0], "setl_id")})
    output = _retrslt(lines)
    books.processed[msg.msgid] = Processed(msg.msgid, "3506", output, codes=tuple(codes_all))
    return output
