"""What the gateway says about drugs and institutions: 【1312】 catalogue entries (paged, incremental by
``updt_time``), 【1318】 price ceilings, 【1201】 institutions (docs/gateway.md 1312, 1318, 1201).

None of them carries a dual-channel category, payment standard or agreement end: those come from the province's
published dual-channel list (docs/data-sources.md). 1312 gives an entry's validity (``begndate``/``enddate``,
``vali_flag``) and class (``chrgitm_lv``); 1318 the insurer's price ceiling (``hilist_pric_uplmt_amt``); 1201 an
institution's hospital level (``hosp_lv``).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.nhsa.money import count, money
from adapters.nhsa.reading import as_rows, node, text


def catalogue_query_input(*, updt_time: str, page_num: int, page_size: int, insu_admdvs: str = "",
                          hilist_code: str = "", vali_flag: str = "") -> dict[str, Any]:
    """【1312】 input: rows updated since ``updt_time`` (yyyy-MM-dd), one page."""
    return {"data": {"query_date": "", "hilist_code": hilist_code, "insu_admdvs": insu_admdvs, "begndate": "",
                     "hilist_name": "", "vali_flag": vali_flag, "updt_time": updt_time, "page_num": page_num,
                     "page_size": page_size}}


def price_ceiling_input(*, updt_time: str, page_num: int, page_size: int, hilist_code: str = "",
                        insu_admdvs: str = "") -> dict[str, Any]:
    """【1318】 input, paged like 1312."""
    return {"data": {"query_date": "", "hilist_code": hilist_code, "insu_admdvs": insu_admdvs, "begndate": "",
                     "updt_time": updt_time, "page_num": page_num, "page_size": page_size}}


@dataclass(frozen=True)
class CatalogueRow:
    hilist_code: str
    hilist_name: str
    insu_admdvs: str
    begndate: str
    enddate: str
    chrgitm_lv: str
    list_type: str
    vali_flag: str
    rid: str
    updt_time: str


@dataclass(frozen=True)
class PriceCeiling:
    hilist_code: str
    begndate: str
    enddate: str
    hilist_pric_uplmt_amt: Decimal | None
    updt_time: str


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    page_num: int
    pages: int
    record_counts: int


def _page(output: dict[str, Any], rows: list[Any]) -> Page:
    return Page(rows=rows, page_num=count(output.get("pagenum"), 1), pages=count(output.get("pages"), 1),
                record_counts=count(output.get("recordcounts"), len(rows)))


def parse_catalogue(output: dict[str, Any]) -> Page:
    """【1312】 output: paging fields and ``data`` rows (output keys are lower-cased: ``pagenum``…)."""
    rows = [CatalogueRow(hilist_code=text(r, "hilist_code"), hilist_name=text(r, "hilist_name"),
                         insu_admdvs=text(r, "insu_admdvs"), begndate=text(r, "begndate")[:10],
                         enddate=text(r, "enddate")[:10], chrgitm_lv=text(r, "chrgitm_lv"),
                         list_type=text(r, "list_type"), vali_flag=text(r, "vali_flag"), rid=text(r, "rid"),
                         updt_time=text(r, "updt_time")) for r in as_rows(node(output, "data"))]
    return _page(output, rows)


def parse_price_ceilings(output: dict[str, Any]) -> Page:
    rows = [PriceCeiling(hilist_code=text(r, "hilist_code"), begndate=text(r, "begndate")[:10],
                         enddate=text(r, "enddate")[:10],
                         hilist_pric_uplmt_amt=(money(r["hilist_pric_uplmt_amt"])
                                                if r.get("hilist_pric_uplmt_amt") not in (None, "") else None),
                         updt_time=text(r, "updt_time")) for r in as_rows(node(output, "data"))]
    return _page(output, rows)


def institution_query_input(fixmedins_code: str, fixmedins_type: str = "1") -> dict[str, Any]:
    """【1201】 input node ``medinsinfo`` (not ``data``); type 1 = medical institution."""
    return {"medinsinfo": {"fixmedins_type": fixmedins_type, "fixmedins_name": "", "fixmedins_code": fixmedins_code}}


@dataclass(frozen=True)
class Institution:
    fixmedins_code: str
    fixmedins_name: str
    fixmedins_type: str
    hosp_lv: str


def parse_institutions(output: dict[str, Any]) -> list[Institution]:
    return [Institution(fixmedins_code=text(r, "fixmedins_code"), fixmedins_name=text(r, "fixmedins_name"),
                        fixmedins_type=text(r, "fixmedins_type"), hosp_lv=text(r, "hosp_lv"))
            for r in as_rows(node(output, "medinsinfo"))]
