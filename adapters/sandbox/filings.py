"""Filings at the sandbox insurer: seeding them (``POST /sandbox/filings``) and the transactions about them —
【5301】人员慢特病备案查询 and 【5302】人员定点信息查询 (docs/gateway.md 5301, 5302).

A filing is seeded as the 5301 row it answers, ``{psn_no, opsp_dise_code, opsp_dise_name, begndate, enddate}``,
plus the 三定 facts only the insurer holds and adjudicates with: ``drug_generic_name`` (the drug, matched by generic
name), ``fixmedins_code``/``fixmedins_name`` (the designated institution), ``dr_codes``/``dr_names`` (the
responsible physicians), ``review`` (none | pending | approved), ``cross_region_approved`` and ``hosp_lv`` (else
the institution's level). 5301 answers the four fields and ``exp_content`` only; 5302 (``biz_appy_type`` 03)
answers the designated institutions of the person's filings, without physicians or drugs.

The wave-1 body (``generic_name, institution_code, hosp_lv, physicians, begin, end, review,
cross_region_approved``) is still read; such a filing gets a disease code derived from its generic name
(``M9`` + four digits) and the name "门诊特殊疾病（<generic name>）", since a real filing always has one.
"""
from __future__ import annotations

import zlib
from datetime import date
from typing import Any, cast

from plugin.eligibility import Filing, Review

from adapters.sandbox import bodies
from adapters.sandbox.books import Books, FilingRecord
from adapters.sandbox.messages import Message, Refusal, handles, text
from adapters.sandbox.persons import NOT_FOUND

REVIEWS = ("none", "pending", "approved")
BIZ_APPY_TYPES = ("01", "03", "08", "99")


def wave1_disease(generic_name: str) -> tuple[str, str]:
    """The disease code and name a wave-1 filing (which named none) is given."""
    return f"M9{zlib.crc32(generic_name.encode('utf-8')) % 10000:04d}", f"门诊特殊疾病（{generic_name}）"


def _physicians(books: Books, codes: tuple[str, ...], names: tuple[str, ...]) -> tuple[str, ...]:
    """Codes and names together, completed from the insurer's register of physicians (code → name): the insurer
    matches a line's physician code, or name when no code is sent."""
    named = tuple(books.physicians[c] for c in codes if c in books.physicians)
    coded = tuple(c for c, name in books.physicians.items() if name in names)
    return tuple(dict.fromkeys(codes + coded + names + named))


def add_filing(books: Books, d: Any) -> FilingRecord:
    d = bodies.obj(d, "body")
    psn_no = bodies.text(d, "psn_no")
    person = books.persons.get(psn_no)
    if person is None:
        raise bodies.bad("psn_no", f"no person {psn_no}; add the person first.", "人员不存在，请先添加人员。")
    wave1 = "opsp_dise_code" not in d and "drug_generic_name" not in d
    if wave1:
        generic = bodies.text(d, "generic_name")
        code, name = wave1_disease(generic)
        codes, names = bodies.strings(d, "physicians"), tuple[str, ...]()
        if not codes:
            # 定责任医师 (渝医保发〔2021〕12号 §四(四)): a filing names its 1–2 responsible physicians
            raise bodies.bad("physicians", "must list 1–2 responsible physicians.", "必须填写1–2名责任医师。")
        institution = bodies.text(d, "institution_code")
        inst_name = bodies.text(d, "institution_name", required=False)
        begin, end = bodies.day(d.get("begin"), "begin"), bodies.day(d.get("end"), "end", required=False)
        for dr_code, dr_name in bodies.obj(d.get("physician_names") or {}, "physician_names").items():
            if isinstance(dr_name, str) and dr_name.strip():
                books.physicians[str(dr_code)] = dr_name.strip()
    else:
        generic = bodies.text(d, "drug_generic_name")
        code, name = bodies.text(d, "opsp_dise_code"), bodies.text(d, "opsp_dise_name")
        codes, names = bodies.strings(d, "dr_codes"), bodies.strings(d, "dr_names")
        if not codes and not names:
            raise bodies.bad("dr_names", "must name the responsible physicians (dr_names and/or dr_codes).",
                             "必须填写责任医师（dr_names 或 dr_codes）。")
        institution = bodies.text(d, "fixmedins_code")
        inst_name = bodies.text(d, "fixmedins_name", required=False)
        begin, end = bodies.day(d.get("begndate"), "begndate"), bodies.day(d.get("enddate"), "enddate", required=False)
    if begin is None:
        raise bodies.bad("begndate", "is required.", "为必填项。")
    if end is not None and end < begin:
        raise bodies.bad("enddate" if not wave1 else "end", "must not be before the start.", "不能早于开始日期。")
    hosp_lv = bodies.text(d, "hosp_lv", required=False)
    review = cast(Review, bodies.text(d, "review", required=False, choices=REVIEWS) or "none")  # one of REVIEWS
    approved = bodies.flag(d, "cross_region_approved", default=False)
    with books.lock:
        books.register_institution(institution, inst_name, hosp_lv)
        filing = Filing(begin=begin, end=end or date.max, disease_code=code, disease_name=name, generic_name=generic,
                        institution_code=institution,
                        hosp_lv=hosp_lv or books.institutions[institution].hosp_lv or None,
                        physicians=_physicians(books, codes, names),
                        review=review, cross_region_approved=approved)
        record = FilingRecord(psn_no, filing, institution, books.institution_name(institution), person.insutype,
                              books.next_serial())
        books.filings.append(record)
    return record


def _open_end(day: date) -> str | None:
    return None if day == date.max else day.isoformat()


@handles("5301")
def filings(books: Books, msg: Message) -> dict[str, Any]:
    psn_no = text(msg.data, "psn_no")
    if psn_no not in books.persons:
        raise Refusal(NOT_FOUND)
    return {"feedetail": [{"opsp_dise_code": r.filing.disease_code, "opsp_dise_name": r.filing.disease_name,
                           "begndate": r.filing.begin.isoformat(), "enddate": _open_end(r.filing.end),
                           "exp_content": None} for r in books.filings_of(psn_no)]}


@handles("5302")
def registrations(books: Books, msg: Message) -> dict[str, Any]:
    psn_no, kind = text(msg.data, "psn_no"), text(msg.data, "biz_appy_type")
    if kind not in BIZ_APPY_TYPES:
        raise Refusal(f"业务申请类型[biz_appy_type]值[{kind}]不正确")
    if psn_no not in books.persons:
        raise Refusal(NOT_FOUND)
    rows: dict[str, dict[str, Any]] = {}
    if kind == "03":
        for r in books.filings_of(psn_no):
            row = rows.setdefault(r.fixmedins_code, {
                "psn_no": psn_no, "insutype": r.insutype, "fix_srt_no": str(len(rows) + 1),
                "fixmedins_code": r.fixmedins_code, "fixmedins_name": books.institution_name(r.fixmedins_code),
                "begndate": r.filing.begin, "enddate": r.filing.end, "memo": None})
            row["begndate"], row["enddate"] = min(row["begndate"], r.filing.begin), max(row["enddate"], r.filing.end)
    for row in rows.values():
        row["begndate"], row["enddate"] = row["begndate"].isoformat(), _open_end(row["enddate"])
    return {"psnfixmedin": list(rows.values())}
