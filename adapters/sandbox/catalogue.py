"""Drugs and institutions at the sandbox insurer: seeding drugs (``POST /sandbox/catalog``) and the transactions
that read them — 【1312】医保目录信息查询, 【1318】医保目录限价信息查询, 【1201】定点医药机构信息查询
(docs/gateway.md 1312, 1318, 1201).

A drug is seeded as the 1312 row the gateway answers (``hilist_code, hilist_name, begndate, enddate, chrgitm_lv,
list_type, …``) plus what only the insurer adjudicates with and never answers: ``category``, ``payment_standard``
and ``generic_name`` (what filings are matched by), optionally ``agreement_end`` (else the row's ``enddate``),
``transition_end``, ``spec``, ``trace_prefixes``, ``gtins``, ``split_units`` and the 1318 ceiling
``hilist_pric_uplmt_amt`` (else the payment standard). The wave-1 body (``med_list_codg, generic_name, drug_name,
spec, category, payment_standard, agreement_end, …``) is still read.

1312 and 1318 are paged (``firstPage, lastPage, size, startRow, pageSize, pageNum, recordCounts, pages, data``)
and return the rows updated since ``updt_time``, optionally one ``hilist_code``. No dual-channel field is answered.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from plugin.eligibility import CatalogEntry

from adapters.sandbox import bodies
from adapters.sandbox.books import Books, CatalogRecord, q2
from adapters.sandbox.messages import Message, Refusal, handles, text

ROW = ("hilist_code", "hilist_name", "insu_admdvs", "begndate", "enddate", "med_chrgitm_type", "chrgitm_lv",
       "lmt_used_flag", "list_type", "med_use_flag", "matn_used_flag", "hilist_use_type", "lmt_cpnd_type", "wubi",
       "pinyin", "memo", "vali_flag", "rid", "updt_time", "crter_id", "crter_name", "crte_time", "crte_optins_no",
       "opter_id", "opter_name", "opt_time", "optins_no", "poolarea_no")
CEILING_ROW = ("hilist_code", "hilist_lmtpric_type", "overlmt_dspo_way", "insu_admdvs", "begndate", "enddate",
               "hilist_pric_uplmt_amt", "vali_flag", "rid", "updt_time", "crter_id", "crter_name", "crte_time",
               "crte_optins_no", "opter_id", "opter_name", "opt_time", "optins_no", "tabname", "poolarea_no")
#: The books keep the policy's level key ("3"); 1201 answers the national 医院等级 code (三级甲等 "02" …).
LEVEL_CODES = {"3": "02", "2": "05", "1": "08"}
INSTITUTION = ("fixmedins_code", "fixmedins_name", "uscc", "fixmedins_type", "hosp_lv")
_ROW_DEFAULTS = {"med_chrgitm_type": "09", "chrgitm_lv": "02", "lmt_used_flag": "0", "list_type": "101",
                 "med_use_flag": "1", "matn_used_flag": "0", "hilist_use_type": "1", "lmt_cpnd_type": "0",
                 "vali_flag": "1"}
TIME = "%Y-%m-%d %H:%M:%S"


def _entry(d: dict[str, Any], *, code: str, name: str, agreement_end: Any) -> CatalogEntry:
    end = bodies.day(agreement_end, "agreement_end", required=False)
    transition = bodies.day(d.get("transition_end"), "transition_end", required=False)
    if transition is not None and (end is None or transition < end):
        raise bodies.bad("transition_end", "must follow an agreement_end.", "必须晚于协议到期日 agreement_end。")
    split_units = d.get("split_units")
    gtins = bodies.strings(d, "gtins")
    return CatalogEntry(
        med_list_codg=code, generic_name=bodies.text(d, "generic_name", required=False)
        or bodies.text(d, "drug_genname", "generic_name"), drug_name=name,
        spec=bodies.text(d, "spec", required=False), category=bodies.text(d, "category"),
        payment_standard=q2(bodies.money(d.get("payment_standard"), "payment_standard", positive=True)),
        agreement_end=end, transition_end=transition, trace_prefixes=bodies.strings(d, "trace_prefixes"), gtins=gtins,
        split_units=None if split_units is None else bodies.whole(split_units, "split_units", minimum=1))


def record_from_mapping(books: Books, d: Any) -> CatalogRecord:
    """A ``POST /sandbox/catalog`` body (a 1312 row + adjudication facts, or the wave-1 body) → the record."""
    d = bodies.obj(d, "body")
    now = books.now().strftime(TIME)
    if "hilist_code" in d:
        code, name = bodies.text(d, "hilist_code"), bodies.text(d, "hilist_name")
        begndate = bodies.day(d.get("begndate"), "begndate", required=False)
        enddate = bodies.day(d.get("enddate"), "enddate", required=False)
        entry = _entry(d, code=code, name=name, agreement_end=d.get("agreement_end") or d.get("enddate"))
        row = bodies.scalar_copy(d, ROW, "body")
    else:
        code = bodies.text(d, "med_list_codg")
        bodies.text(d, "generic_name")
        entry = _entry(d, code=code, name=bodies.text(d, "drug_name"), agreement_end=d.get("agreement_end"))
        begndate, enddate = None, entry.transition_end or entry.agreement_end
        row = {"hilist_code": code, "hilist_name": entry.drug_name}
    for key, value in _ROW_DEFAULTS.items():
        if row.get(key) in (None, ""):
            row[key] = value
    admdvs = str(getattr(books.policy, "admdvs", "") or "")
    updated = bodies.moment(row.get("updt_time"), "updt_time", required=False)
    row.update(begndate=begndate.isoformat() if begndate else books.today().replace(month=1, day=1).isoformat(),
               enddate=enddate.isoformat() if enddate else None,
               insu_admdvs=row.get("insu_admdvs") or admdvs, poolarea_no=row.get("poolarea_no") or admdvs,
               rid=row.get("rid") or f"{admdvs}{books.next_serial():027d}",
               updt_time=updated.strftime(TIME) if updated else now, crte_time=row.get("crte_time") or now)
    ceiling = q2(bodies.money(d.get("hilist_pric_uplmt_amt"), "hilist_pric_uplmt_amt",
                              default=str(entry.payment_standard)))
    ceiling_row = {key: row.get(key) for key in CEILING_ROW if key in row}
    ceiling_row.update(hilist_lmtpric_type="1", overlmt_dspo_way="1", hilist_pric_uplmt_amt=ceiling, tabname=None)
    dosage_form = d.get("dosage_form") if isinstance(d.get("dosage_form"), str) else ""
    return CatalogRecord(row={key: row.get(key) for key in ROW}, entry=entry, ceiling=ceiling,
                         ceiling_row={key: ceiling_row.get(key) for key in CEILING_ROW}, dosage_form=dosage_form)


def add_catalog(books: Books, d: Any) -> CatalogRecord:
    record = record_from_mapping(books, d)
    with books.lock:
        books.catalog[record.entry.med_list_codg] = record
    return record


# -- queries --------------------------------------------------------------------------------------------------------
def _page_arg(d: dict[str, Any], key: str, limit: int) -> int:
    raw = d.get(key)
    try:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ValueError
        value = int(str(raw).strip())
    except ValueError:
        raise Refusal(f"参数[{key}]不是有效的整数") from None
    if not 1 <= value <= limit:
        raise Refusal(f"参数[{key}]超出范围（1–{limit}）")
    return value


def _since(d: dict[str, Any]) -> str:
    """``updt_time`` (a date, or a date-time) as the row time it compares with."""
    raw = text(d, "updt_time")
    for fmt in (TIME, "%Y-%m-%d"):
        try:
            return datetime.strptime(raw, fmt).strftime(TIME)
        except ValueError:
            continue
    raise Refusal("参数[updt_time]格式不正确，应为yyyy-MM-dd")


def _paged(d: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    num, size = _page_arg(d, "page_num", 100000), _page_arg(d, "page_size", 1000)
    page = rows[(num - 1) * size: num * size]
    pages = (len(rows) + size - 1) // size
    return {"firstPage": 1, "lastPage": max(pages, 1), "size": len(page),
            "startRow": (num - 1) * size + 1 if page else 0, "pageSize": size, "pageNum": num,
            "recordCounts": len(rows), "pages": pages, "data": page}


def _matching(books: Books, d: dict[str, Any]) -> list[CatalogRecord]:
    since, code, vali = _since(d), text(d, "hilist_code"), text(d, "vali_flag")
    return [r for _, r in sorted(books.catalog.items())
            if str(r.row.get("updt_time") or "") >= since and (not code or r.entry.med_list_codg == code)
            and (not vali or r.row.get("vali_flag") == vali)]


@handles("1312")
def catalogue(books: Books, msg: Message) -> dict[str, Any]:
    return _paged(msg.data, [dict(r.row) for r in _matching(books, msg.data)])


@handles("1318")
def price_ceilings(books: Books, msg: Message) -> dict[str, Any]:
    return _paged(msg.data, [dict(r.ceiling_row) for r in _matching(books, msg.data)])


@handles("1201")
def institutions(books: Books, msg: Message) -> dict[str, Any]:
    d = msg.data
    code, name, kind = text(d, "fixmedins_code"), text(d, "fixmedins_name"), text(d, "fixmedins_type")
    found = [i for _, i in sorted(books.institutions.items())
             if (not code or i.fixmedins_code == code) and (not name or name in i.fixmedins_name)
             and (not kind or i.fixmedins_type == kind)]
    return {"medinsinfo": [{"fixmedins_code": i.fixmedins_code, "fixmedins_name": i.fixmedins_name,
                            "uscc": i.uscc or None, "fixmedins_type": i.fixmedins_type,
                            "hosp_lv": LEVEL_CODES.get(i.hosp_lv, i.hosp_lv) or None}
                           for i in found]}

