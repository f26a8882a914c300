"""Dual-channel list files made the way provinces publish them: a title row above a two-row header with merged
cells (XLSX), or a title line above a Chinese header (CSV, UTF-8 or GBK). Built here, by the tests, from rows."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

COLUMNS = ["医保目录编码", "通用名", "药品名称", "剂型", "规格", "类别", "医保支付标准", "协议开始日期", "协议到期日期",
           "过渡期截止日期", "药品追溯码前缀", "拆零单位数"]
TITLE = "江西省医疗保障局 双通道管理药品目录（2026年版）"

DRUGS: list[dict[str, Any]] = [
    {"医保目录编码": "XL01XEA123A001010104445", "通用名": "奥希替尼", "药品名称": "甲磺酸奥希替尼片", "剂型": "片剂",
     "规格": "80mg×30片/盒", "类别": "A", "医保支付标准": "5100.50", "协议开始日期": "2026-01-01",
     "协议到期日期": "2027-12-31", "过渡期截止日期": "2028-03-31", "药品追溯码前缀": "8690001;06901234567892",
     "拆零单位数": "30"},
    {"医保目录编码": "XL01XEB234A001020204446", "通用名": "阿来替尼", "药品名称": "盐酸阿来替尼胶囊", "剂型": "胶囊剂",
     "规格": "150mg×224粒/盒", "类别": "B", "医保支付标准": "3120.50", "协议开始日期": "2026-01-01",
     "协议到期日期": "2027-12-31", "过渡期截止日期": "", "药品追溯码前缀": "8690002", "拆零单位数": ""},
    {"医保目录编码": "XL04AXC345B002010305557", "通用名": "托法替布", "药品名称": "枸橼酸托法替布片", "剂型": "片剂",
     "规格": "5mg×28片/盒", "类别": "C", "医保支付标准": "1.99", "协议开始日期": "2025-01-01",
     "协议到期日期": "2026-12-31", "过渡期截止日期": "", "药品追溯码前缀": "", "拆零单位数": ""},
]


def drugs(n: int | None = None) -> list[dict[str, Any]]:
    """Copies of the sample rows (change them freely in a test)."""
    return [dict(d) for d in DRUGS[:n]]


def province_csv(rows: list[dict[str, Any]], *, encoding: str = "utf-8", title: bool = True,
                 headers: dict[str, str] | None = None, columns: list[str] | None = None) -> bytes:
    """A CSV as a province's office exports it: a title line, then the header (``headers`` renames canonical
    names to a region's spelling), then one line per drug. ``encoding`` "utf-8-sig" writes a BOM."""
    columns = columns or COLUMNS
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    if title:
        writer.writerow([TITLE] + [""] * len(columns))
    writer.writerow(["序号"] + [(headers or {}).get(c, c) for c in columns])
    for n, row in enumerate(rows, 1):
        writer.writerow([n] + [row.get(c, "") for c in columns])
    return out.getvalue().encode(encoding)


def _cell(column: str, value: Any) -> Any:
    """Spreadsheet-typed cells, as a person typing into Excel gets them: dates and money as numbers."""
    if value in ("", None):
        return None
    if column in ("协议开始日期", "协议到期日期", "过渡期截止日期") and isinstance(value, str) and len(value) == 10:
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            return value
    if column == "医保支付标准" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if column == "拆零单位数" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def province_xlsx(rows: list[dict[str, Any]], *, raw: bool = False) -> bytes:
    """An XLSX like a province's: row 1 a title merged across the sheet; rows 2–3 a two-level header in which
    single columns are merged over both rows and ``药品信息`` / ``协议期`` head their sub-columns; drugs from row 4.
    ``raw`` keeps every cell as given (strings), instead of Excel-typed dates and numbers."""
    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "双通道药品目录"
    width = len(COLUMNS) + 1
    sheet.cell(1, 1, TITLE)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    groups = {"通用名": "药品信息", "药品名称": "药品信息", "剂型": "药品信息", "规格": "药品信息",
              "协议开始日期": "协议期", "协议到期日期": "协议期"}
    header = ["序号"] + COLUMNS
    col = 1
    while col <= width:
        name = header[col - 1]
        group = groups.get(name)
        if group is None:
            sheet.cell(2, col, name if name != "医保支付标准" else "医保支付标准\n（元）")
            sheet.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
            col += 1
            continue
        span = [c for c in header if groups.get(c) == group]
        sheet.cell(2, col, group)
        sheet.merge_cells(start_row=2, start_column=col, end_row=2, end_column=col + len(span) - 1)
        for k, sub in enumerate(span):
            sheet.cell(3, col + k, sub)
        col += len(span)
    for r, row in enumerate(rows, 4):
        sheet.cell(r, 1, r - 3)
        for c, column in enumerate(COLUMNS, 2):
            value = row.get(column, "")
            sheet.cell(r, c, (value or None) if raw else _cell(column, value))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
