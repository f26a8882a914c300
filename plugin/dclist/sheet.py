"""Read a province's list file — CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16) or XLSX — into a table of cells
with the line number of every row, and find its header row.

Provinces publish spreadsheets made for people: a title row above the header, header cells merged across two
rows or over a group of sub-headers (``协议期`` over ``协议开始日期``/``协议到期日期``), a serial-number column.
Merged cells are filled with their value, the header is the first block of rows in the top 30 that names at least
two known columns, and each column takes the lowest recognised name in that block. The data start below the block.

A file that was decoded with the wrong character set and saved again (a GBK file opened as UTF-8: replacement
characters; or as Latin-1: ``Ò½±£Ä¿Â¼±àÂë``) cannot be repaired reliably and is refused with that diagnosis; a GBK
file as the province published it is decoded as GBK.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from plugin.dclist.columns import REQUIRED, Mapping
from plugin.dclist.model import ListProblem, ListRefused

MAX_BYTES = 50 * 1024 * 1024          # a national list is a few hundred KB; a larger file is not a list
MAX_XLSX_UNPACKED = 400 * 1024 * 1024  # a zip bomb is refused before openpyxl inflates it
MAX_ROWS = 100_000
MAX_COLUMNS = 200
HEADER_SEARCH_ROWS = 30
_LATIN1_MOJIBAKE = re.compile(r"[\u00c0-\u00ff]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Table:
    """A read file: ``columns`` maps a cell index to its canonical header; ``rows`` are (line, cells) below it."""

    kind: str                                   # "csv" | "xlsx"
    encoding: str = ""                          # csv: the character set it was decoded with
    sheet: str = ""                             # xlsx: the worksheet the list was found on
    header_line: int = 0
    columns: dict[int, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)   # header cells that are not list columns (序号, 备注…)
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


def _unreadable(reason: str, reason_zh: str) -> ListRefused:
    return ListRefused([ListProblem(0, "", reason, reason_zh)], unreadable=True)


def read_table(data: bytes, mapping: Mapping, name: str = "") -> Table:
    """The file's bytes → a Table; raises ListRefused for an empty, oversized, unreadable or headerless file."""
    if len(data) > MAX_BYTES:
        raise _unreadable(f"the file is {len(data)} bytes; a dual-channel list is at most {MAX_BYTES} bytes",
                          f"文件过大（{len(data)} 字节），双通道药品目录不超过 {MAX_BYTES} 字节")
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise _unreadable("the file is empty", "文件是空的")
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, mapping)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _unreadable("this is an old Excel .xls file; save it as .xlsx or CSV (UTF-8) and import that",
                          "这是旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV（UTF-8）后再导入")
    return _read_csv(data, mapping)


# -- CSV ----------------------------------------------------------------------------------------------------------

def _decode(data: bytes) -> tuple[str, str]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise _unreadable("the file starts like UTF-16 text but is not valid UTF-16",
                              "文件以 UTF-16 开头，但内容不是有效的 UTF-16 文本") from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise _unreadable("the file is neither UTF-8 nor GBK/GB18030 text, nor an XLSX workbook",
                      "文件既不是 UTF-8 或 GBK 编码的文本，也不是 XLSX 工作簿")


def _delimiter(text: str) -> str:
    head = text[:8192]
    return "\t" if head.count("\t") > head.count(",") else ","


def _read_csv(data: bytes, mapping: Mapping) -> Table:
    text, encoding = _decode(data)
    if "\x00" in text:
        raise _unreadable("the file holds NUL bytes: it is not a CSV text file", "文件含有空字节，不是 CSV 文本文件")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[tuple[int, list[Any]]] = []
    try:
        for cells in reader:
            if len(rows) > MAX_ROWS + HEADER_SEARCH_ROWS:
                raise _unreadable(f"more than {MAX_ROWS} rows; a dual-channel list is shorter",
                                  f"行数超过 {MAX_ROWS}，不是双通道药品目录")
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, [c[:2000] for c in cells[:MAX_COLUMNS]]))
    except csv.Error as exc:
        raise _unreadable(f"line {reader.line_num}: not valid CSV: {exc}",
                          f"第 {reader.line_num} 行不是有效的 CSV：{exc}") from None
    table = Table(kind="csv", encoding=encoding)
    _find_header(table, rows, mapping)
    return table


# -- XLSX ---------------------------------------------------------------------------------------------------------

def _read_xlsx(data: bytes, mapping: Mapping) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _unreadable("the file starts like an XLSX workbook but is not a valid one",
                          "文件看似 XLSX 工作簿，但已损坏或不完整") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise _unreadable(f"the workbook unpacks to {unpacked} bytes; refused",
                          f"工作簿解压后达 {unpacked} 字节，拒绝读取")
    import openpyxl
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except Exception as exc:  # noqa: BLE001 — openpyxl raises many kinds on a damaged or hostile workbook
        raise _unreadable(f"not a readable XLSX workbook ({type(exc).__name__})",
                          f"无法读取该 XLSX 工作簿（{type(exc).__name__}）") from None
    last: ListRefused | None = None
    try:
        for sheet in book.worksheets:
            table = Table(kind="xlsx", sheet=sheet.title)
            try:
                _find_header(table, _sheet_rows(sheet), mapping)
            except ListRefused as exc:
                last = last or exc
                continue
            return table
    finally:
        book.close()
    raise last or _unreadable("the workbook has no worksheet", "工作簿中没有工作表")


def _sheet_rows(sheet: Any) -> list[tuple[int, list[Any]]]:
    max_row = min(sheet.max_row or 0, MAX_ROWS + HEADER_SEARCH_ROWS + 1)
    max_col = min(sheet.max_column or 0, MAX_COLUMNS)
    if (sheet.max_row or 0) > MAX_ROWS + HEADER_SEARCH_ROWS + 1:
        raise _unreadable(f"sheet {sheet.title}: more than {MAX_ROWS} rows; a dual-channel list is shorter",
                          f"工作表 {sheet.title} 行数超过 {MAX_ROWS}，不是双通道药品目录")
    grid = [list(r) for r in sheet.iter_rows(min_row=1, max_row=max_row, max_col=max_col, values_only=True)]
    for merged in sheet.merged_cells.ranges:
        r0, c0, r1, c1 = merged.min_row, merged.min_col, min(merged.max_row, max_row), min(merged.max_col, max_col)
        if r0 > max_row or c0 > max_col:
            continue
        value = grid[r0 - 1][c0 - 1]
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                grid[r - 1][c - 1] = value
    return [(n, cells) for n, cells in enumerate(grid, 1)
            if any(v is not None and str(v).strip() for v in cells)]


# -- the header -----------------------------------------------------------------------------------------------------

def _recognised(cells: list[Any], mapping: Mapping) -> dict[int, str]:
    found: dict[int, str] = {}
    for i, cell in enumerate(cells):
        if isinstance(cell, str):
            name = mapping.canonical(cell)
            if name is not None and name not in found.values():
                found[i] = name
    return found


def _check_mojibake(rows: list[tuple[int, list[Any]]]) -> None:
    top = " ".join(str(c) for _, cells in rows[:HEADER_SEARCH_ROWS] for c in cells if isinstance(c, str))
    if "\ufffd" in top:
        raise _unreadable("the header holds replacement characters (\ufffd): the file was opened with the wrong "
                          "character set (a GBK file read as UTF-8) and saved again, which loses the text; export "
                          "it again from the province's original file (UTF-8 or GBK CSV, or XLSX)",
                          "表头含有乱码替换字符（\ufffd）：该文件曾按错误的字符集打开（GBK 文件被当作 UTF-8）"
                          "并重新保存，文字已丢失。请从省医保局发布的原始文件重新导出（UTF-8 或 GBK 的 CSV，或 XLSX）")
    if len(_LATIN1_MOJIBAKE.findall(top)) >= 4 and not _CJK.search(top):
        raise _unreadable("the header is mojibake (e.g. 'Ò½±£Ä¿Â¼' for '医保目录'): GBK text was read as "
                          "Latin-1/Windows-1252 and saved again; export it again from the province's original file",
                          "表头是乱码（如把“医保目录”显示为“Ò½±£Ä¿Â¼”）：GBK 文本被当作 Latin-1 读取后重新保存。"
                          "请从省医保局发布的原始文件重新导出")


def _find_header(table: Table, rows: list[tuple[int, list[Any]]], mapping: Mapping) -> None:
    if not rows:
        raise _unreadable("the file is empty", "文件是空的")
    _check_mojibake(rows)
    search = rows[:HEADER_SEARCH_ROWS]
    start = next((i for i, (_, cells) in enumerate(search) if len(_recognised(cells, mapping)) >= 2), None)
    if start is None:
        expected = ", ".join(REQUIRED)
        raise ListRefused([ListProblem(0, "", f"no header row with the list's columns in the first "
                                              f"{HEADER_SEARCH_ROWS} rows (expected {expected})",
                                       f"前 {HEADER_SEARCH_ROWS} 行中找不到包含目录列名的表头（应有 {expected}）")])
    end = start + 1
    while end < len(search) and _recognised(search[end][1], mapping):
        end += 1
    columns: dict[int, str] = {}
    for _, cells in rows[start:end]:
        for i, name in _recognised(cells, mapping).items():
            for j in [j for j, n in columns.items() if n == name and j != i]:
                del columns[j]          # a lower row names the column more precisely
            columns[i] = name
    header_line, header_cells = rows[end - 1]
    table.header_line = header_line
    table.columns = dict(sorted(columns.items()))
    table.ignored = [str(c).strip() for i, c in enumerate(header_cells)
                     if i not in columns and c is not None and str(c).strip()]
    problems = [ListProblem(header_line, name, "column missing from the header", "表头缺少该列")
                for name in REQUIRED if name not in columns.values()]
    seen: dict[str, int] = {}
    for i, cell in enumerate(header_cells):
        canonical = mapping.canonical(cell) if isinstance(cell, str) else None
        if canonical is not None and canonical in seen and i != seen[canonical]:
            first = seen[canonical] + 1
            problems.append(ListProblem(header_line, canonical, f"column appears twice (cells {first} and {i + 1})",
                                        f"该列出现两次（第 {first} 和第 {i + 1} 格）"))
        seen.setdefault(canonical or "", i)
    if problems:
        raise ListRefused(problems)
    table.rows = rows[end:]
