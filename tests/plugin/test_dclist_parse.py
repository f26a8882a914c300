"""Reading the province's published dual-channel list: real-shaped CSV and XLSX files, every refusal with its line."""
from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from plugin.dclist import (
    ListRefused,
    Mapping,
    build_document,
    load_mapping,
    load_region_mapping,
    parse_document,
    read_province_file,
)
from tests.plugin.dclist_files import COLUMNS, drugs, province_csv, province_xlsx

JIANGXI = {"A", "B", "C"}


def read(data: bytes, name: str = "list.csv", mapping: Mapping | None = None, categories=JIANGXI):
    return read_province_file(data, name, mapping=mapping or load_region_mapping("jiangxi"), categories=categories,
                              source="赣医保字〔2026〕1号", publication_date=date(2026, 1, 5), region="jiangxi")


def refused(data: bytes, **kw) -> ListRefused:
    with pytest.raises(ListRefused) as caught:
        read(data, **kw)
    return caught.value


def where(exc: ListRefused) -> list[tuple[int, str]]:
    return [(p.line, p.column) for p in exc.problems]


def test_a_province_xlsx_with_a_title_row_and_a_merged_two_row_header_imports_every_drug():
    imported = read(province_xlsx(drugs()), "目录.xlsx")
    assert imported.table.kind == "xlsx" and imported.table.header_line == 3 and imported.table.ignored == ["序号"]
    osimertinib, alectinib, tofacitinib = imported.list
    assert osimertinib.line == 4 and tofacitinib.line == 6              # sheet rows, below the two header rows
    assert osimertinib.payment_standard == Decimal("5100.50") and alectinib.payment_standard == Decimal("3120.50")
    assert osimertinib.agreement_end == date(2027, 12, 31) and osimertinib.transition_end == date(2028, 3, 31)
    assert osimertinib.trace_prefixes == ("8690001",) and osimertinib.gtins == ("06901234567892",)
    assert osimertinib.split_units == 30 and alectinib.split_units is None
    assert (osimertinib.generic_name, osimertinib.dosage_form, osimertinib.category) == ("奥希替尼", "片剂", "A")
    assert imported.list.entry("XL04AXC345B002010305557").category == "C"
    assert imported.list.meta.rows == 3 and imported.list.meta.publication_date == date(2026, 1, 5)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_csv_in_utf8_utf8_with_bom_or_gbk_reads_the_same_entries(encoding):
    imported = read(province_csv(drugs(), encoding=encoding))
    assert imported.table.header_line == 2                               # below the title line
    assert [e.line for e in imported.list] == [3, 4, 5]
    assert [e.generic_name for e in imported.list] == ["奥希替尼", "阿来替尼", "托法替布"]
    assert imported.list.entry("XL01XEA123A001010104445").payment_standard == Decimal("5100.50")


def test_region_labels_and_header_spellings_are_mapped_by_the_chongqing_mapping():
    spelled = {"医保目录编码": "国家医保药品代码", "通用名": "药品通用名称", "药品名称": "商品名", "类别": "保障类别",
               "医保支付标准": "支付标准（元）", "协议开始日期": "协议有效期起", "协议到期日期": "协议有效期止",
               "过渡期截止日期": "过渡期至", "药品追溯码前缀": "追溯码前缀"}
    rows = drugs(2)
    rows[0]["类别"], rows[1]["类别"] = "国谈门诊特病用药", "国谈门诊保障用药"
    data = province_csv(rows, headers=spelled)
    imported = read(data, mapping=load_mapping("chongqing"), categories={"TB", "BZ"})
    assert [e.category for e in imported.list] == ["TB", "BZ"]
    assert imported.list.meta.mapping == "chongqing"
    without = refused(data, categories={"TB", "BZ"})                    # the canonical headers alone do not fit
    assert without.code == "LIST_INVALID" and ("医保目录编码" in {c for _, c in where(without)})


def test_a_missing_column_is_refused_at_the_header_line_naming_the_column():
    exc = refused(province_csv(drugs(), columns=[c for c in COLUMNS if c != "协议到期日期"]))
    assert exc.code == "LIST_INVALID" and where(exc) == [(2, "协议到期日期")]
    assert "column missing" in exc.problems[0].reason and "缺少" in exc.message_zh


def test_a_duplicate_code_is_refused_naming_both_lines():
    rows = drugs()
    rows[2]["医保目录编码"] = rows[0]["医保目录编码"]
    exc = refused(province_csv(rows))
    assert where(exc) == [(5, "医保目录编码")] and "first on line 3" in exc.problems[0].reason


@pytest.mark.parametrize("column, value", [("协议到期日期", "2027-02-30"), ("协议开始日期", "明年"),
                                           ("过渡期截止日期", "2027-13-01")])
def test_a_bad_date_is_refused_with_its_line_and_column(column, value):
    rows = drugs()
    rows[1][column] = value
    exc = refused(province_csv(rows))
    assert where(exc) == [(4, column)] and "not a date" in exc.problems[0].reason


def test_a_payment_standard_with_three_decimals_is_refused_in_csv_and_in_xlsx():
    rows = drugs()
    rows[2]["医保支付标准"] = "1.995"
    assert where(refused(province_csv(rows))) == [(5, "医保支付标准")]
    assert where(refused(province_xlsx(rows), name="l.xlsx")) == [(6, "医保支付标准")]   # a number cell, 1.995
    rows[2]["医保支付标准"] = "1.990"                                 # the same amount as 1.99: accepted
    assert read(province_csv(rows)).list.entry(rows[2]["医保目录编码"]).payment_standard == Decimal("1.99")


def test_a_category_outside_the_regions_set_is_refused_and_a_class_word_is_read():
    rows = drugs()
    rows[0]["类别"], rows[1]["类别"] = "A类", "乙类"
    exc = refused(province_csv(rows))
    assert where(exc) == [(4, "类别")] and "(A, B, C)" in exc.problems[0].reason


def test_every_bad_row_is_reported_at_once_and_nothing_is_returned():
    rows = drugs() + drugs()
    for n, row in enumerate(rows[3:]):
        row["医保目录编码"] += f"X{n}"
    rows[0]["医保支付标准"] = "-1"
    rows[2]["协议开始日期"] = "2028-01-01"                             # after its agreement end
    rows[3]["通用名"] = ""
    rows[4]["药品追溯码前缀"] = "06901234567893"                        # a GTIN-14 with a wrong check digit
    rows[5]["拆零单位数"] = "0"
    exc = refused(province_csv(rows))
    assert where(exc) == [(3, "医保支付标准"), (5, "协议到期日期"), (6, "通用名"), (7, "药品追溯码前缀"),
                          (8, "拆零单位数")]
    assert exc.details["count"] == 5 and exc.problems[2].reason_zh == "不能为空"


def test_a_gbk_file_that_was_opened_as_utf8_and_saved_again_is_refused_as_mojibake():
    mangled = province_csv(drugs(), encoding="gbk").decode("utf-8", errors="replace").encode("utf-8")
    exc = refused(mangled)
    assert exc.code == "LIST_UNREADABLE" and "GBK file read as UTF-8" in exc.message
    assert "乱码" in exc.message_zh


def test_a_gbk_file_read_as_latin1_and_saved_again_is_refused_as_mojibake():
    mangled = province_csv(drugs(), encoding="gbk", title=False).decode("latin-1").encode("utf-8")
    exc = refused(mangled)
    assert exc.code == "LIST_UNREADABLE" and "mojibake" in exc.message


@pytest.mark.parametrize("data, words", [(b"", "empty"), (b"\xef\xbb\xbf\r\n", "empty"),
                                         (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
                                         (b"PK\x03\x04 not really a zip", "not a valid one")])
def test_an_empty_old_or_broken_file_is_refused_as_unreadable(data, words):
    exc = refused(data)
    assert exc.code == "LIST_UNREADABLE" and words in exc.message


def test_a_header_without_drugs_and_a_file_without_a_header_are_refused():
    assert "no drugs" in refused(province_csv([])).message
    exc = refused("说明：本文件不是目录\n1,2,3\n".encode())
    assert exc.code == "LIST_INVALID" and "no header row" in exc.message


def test_an_xlsx_that_is_a_zip_but_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert refused(buffer.getvalue(), name="x.xlsx").code == "LIST_UNREADABLE"


def test_the_normalised_document_round_trips_and_a_tampered_one_is_refused():
    imported = read(province_xlsx(drugs()), "目录.xlsx")
    again = parse_document(imported.document)
    assert again.entries == imported.list.entries and again.document_sha256 == imported.list.document_sha256
    assert build_document(again.entries, again.meta) == imported.document
    tampered = imported.document.replace(b'"5100.50"', b'"5100.505"')
    with pytest.raises(ListRefused) as caught:
        parse_document(tampered)
    assert caught.value.code == "LIST_UNREADABLE"


def test_an_entry_gives_the_mapping_the_eligibility_rules_read():
    from plugin.eligibility import CatalogEntry
    entry = read(province_csv(drugs(1))).list.entries[0]
    catalog = CatalogEntry.from_mapping(entry.to_catalog_mapping())
    assert catalog.payment_standard == Decimal("5100.50") and catalog.transition_end == date(2028, 3, 31)
    assert catalog.gtins == ("06901234567892",) and catalog.trace_prefixes == ("8690001",)
