"""Sandbox handlers for the transactions that move nothing: 9001 sign-in, 1101 person, 5301 filings, 1312 catalog.

Field names are docs/gateway.md's; the dual-channel fields of 5301 and 1312 are the sandbox's own (docs/gateway.md *(sandbox)*).
"""
from __future__ import annotations

from typing import Any

from adapters.sandbox.books import Books, Person, money_str
from adapters.sandbox.messages import Message, Refusal, handles, need, text

NOT_FOUND = "未查询到人员信息"


@handles("9001")
def sign_in(books: Books, msg: Message) -> dict[str, Any]:
    info = msg.input.get("signIn")
    if not isinstance(info, dict):
        raise Refusal("参数[signIn]不能为空")
    now = books.now()
    sign_no = f"{now.strftime('%Y%m%d%H%M%S')}{books.next_serial():06d}"
    books.sign_ins.append({"sign_no": sign_no, "fixmedins_code": msg.field("fixmedins_code"),
                           "opter_no": text(info, "opter_no"), "sign_time": now.strftime("%Y-%m-%d %H:%M:%S")})
    return {"signinoutb": {"sign_time": now.strftime("%Y-%m-%d %H:%M:%S"), "sign_no": sign_no}}


def identify(books: Books, data: dict[str, Any]) -> Person:
    """The person a 就诊凭证 names: 01 e-voucher token, 02 ID number, 03 social-security card + card_sn."""
    cert_type = text(data, "mdtrt_cert_type")
    if cert_type not in ("01", "02", "03"):
        raise Refusal(f"就诊凭证类型[mdtrt_cert_type]值[{cert_type}]不正确，应为01、02或03")
    cert_no = text(data, "mdtrt_cert_no") or (text(data, "certno") if cert_type == "02" else "")
    if not cert_no:
        raise Refusal("就诊凭证编号[mdtrt_cert_no]不能为空")
    if cert_type == "03":
        need(data, "card_sn")
    person = books.find_person(cert_type, cert_no, text(data, "card_sn"))
    if person is None:
        raise Refusal(NOT_FOUND)
    name = text(data, "psn_name")
    if name and name != person.psn_name:
        raise Refusal("人员姓名与证件信息不符")
    return person


def _age(person: Person, books: Books) -> str:
    if len(person.brdy) != 10:
        return ""
    y, m, d = (int(x) for x in person.brdy.split("-"))
    today = books.today()
    return str(today.year - y - ((today.month, today.day) < (m, d)))


@handles("1101")
def person_info(books: Books, msg: Message) -> dict[str, Any]:
    person = identify(books, msg.data)
    return {
        "baseinfo": {"psn_no": person.psn_no, "psn_cert_type": "01", "certno": person.certno,
                     "psn_name": person.psn_name, "gend": person.gend, "naty": "01", "brdy": person.brdy,
                     "age": _age(person, books)},
        "insuinfo": [{"balc": money_str(person.balc), "insutype": person.insutype, "psn_type": person.psn_type,
                      "psn_insu_stas": "1", "psn_insu_date": "", "paus_insu_date": "", "cvlserv_flag": "0",
                      "insuplc_admdvs": person.insuplc_admdvs, "emp_name": "",
                      # (sandbox) year-to-date accumulators, so the plug-in's local estimate starts from the
                      # insurer's numbers (docs/policies.md §3: the accumulators belong to the insurer).
                      "ytd": {k: money_str(v) for k, v in person.ytd.items()}}],
        "idetinfo": [],
    }


@handles("5301")
def filings(books: Books, msg: Message) -> dict[str, Any]:
    need(msg.data, "psn_no")
    psn_no = text(msg.data, "psn_no")
    if psn_no not in books.persons:
        raise Refusal(NOT_FOUND)
    rows = []
    for rec in books.filings:
        if rec.psn_no != psn_no:
            continue
        f = rec.filing
        rows.append({"opsp_dise_code": f"SDT{rec.seq:05d}", "opsp_dise_name": f"双通道谈判药品用药（{f.generic_name}）",
                     "begndate": f.begin.isoformat(), "enddate": f.end.isoformat(), "drug_genname": f.generic_name,
                     "fixmedins_code": f.institution_code,
                     "fixmedins_name": books.institutions.get(f.institution_code, ""), "hosp_lv": f.hosp_lv,
                     "dr_codes": list(f.physicians), "review_stas": f.review,
                     "cross_region_approved": f.cross_region_approved})
    return {"feedetail": rows}


def catalog_row(entry: Any) -> dict[str, Any]:
    return {"hilist_code": entry.med_list_codg, "med_list_codg": entry.med_list_codg,
            "hilist_name": entry.drug_name, "drug_genname": entry.generic_name, "spec": entry.spec,
            "dual_channel_category": entry.category, "payment_standard": money_str(entry.payment_standard),
            "begndate": "", "enddate": entry.agreement_end.isoformat() if entry.agreement_end else "",
            "agreement_end": entry.agreement_end.isoformat() if entry.agreement_end else "",
            "transition_end": entry.transition_end.isoformat() if entry.transition_end else "",
            "trace_prefixes": list(entry.trace_prefixes), "gtins": list(entry.gtins),
            "split_units": entry.split_units, "hi_nego_drug_flag": "1", "vali_flag": "1"}


def _int(d: dict[str, Any], key: str, default: int, limit: int) -> int:
    raw = d.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise Refusal(f"参数[{key}]不是有效的整数") from None
    if not 1 <= value <= limit:
        raise Refusal(f"参数[{key}]超出范围（1–{limit}）")
    return value


@handles("1312")
def catalog(books: Books, msg: Message) -> dict[str, Any]:
    data = msg.data
    page_num, page_size = _int(data, "page_num", 1, 100000), _int(data, "page_size", 100, 1000)
    code = text(data, "hilist_code")
    entries = [e for e in sorted(books.catalog.values(), key=lambda e: e.med_list_codg)
               if not code or e.med_list_codg == code]
    page = entries[(page_num - 1) * page_size: page_num * page_size]
    return {"data": [catalog_row(e) for e in page], "recordCounts": len(entries), "pageNum": page_num,
            "pageSize": page_size, "pages": (len(entries) + page_size - 1) // page_size}
