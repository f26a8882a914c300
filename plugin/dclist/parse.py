"""Rows of a read list → validated DualChannelEntry values, or every problem with its line and column.

Pure: values in, values out. Rules (docs/dual-channel-list.md):

* ``医保目录编码`` 1–64 letters, digits, ``.``, ``_`` or ``-``; unique in the file (a repeat names the first line);
* ``通用名`` and ``类别`` not empty; ``类别`` after the mapping's labels one of the region's categories;
* ``医保支付标准`` yuan, greater than zero, at most two decimals (``1.500`` is 1.50; ``1.505`` is refused), a
  leading ``¥``/``￥``, a trailing ``元`` and thousands separators are allowed;
* dates ``YYYY-MM-DD``, ``YYYY/M/D``, ``YYYY.M.D``, ``YYYYMMDD``, ``YYYY年M月D日`` or a spreadsheet date cell;
  ``协议开始日期`` ≤ ``协议到期日期`` ≤ ``过渡期截止日期`` (the transition only extends the agreement);
* ``药品追溯码前缀``: ``;``-separated; 14 digits is a GS1 GTIN-14 (its check digit must hold), other digit strings of
  1–19 digits are domestic product prefixes;
* ``拆零单位数`` a whole number ≥ 1; ``定点药店编码`` ``;``-separated 12-character institution codes.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from collections.abc import Callable, Iterable

from plugin.dclist.columns import Mapping
from plugin.dclist.model import DualChannelEntry, ListProblem, ListRefused
from plugin.dclist.sheet import Table

CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FIXMEDINS_RE = re.compile(r"^[A-Za-z0-9]{12}$")
_DATE_RES = (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00)?)?$"),
             re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
             re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"))
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_SEPARATORS = re.compile(r"[;；,，、\s]+")
MAX_MONEY = Decimal("10000000")


class CellError(ValueError):
    """One cell's fault, in words for the person fixing the file (English and Chinese)."""

    def __init__(self, message: str, message_zh: str):
        super().__init__(message)
        self.message_zh = message_zh


def text(value: Any) -> str:
    """A cell as text: NFKC folded (full-width digits and letters become ASCII), trimmed; numbers as written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


def money(value: Any) -> Decimal:
    if isinstance(value, float):
        raw = repr(value)                       # the shortest text that round-trips: 12.345 stays 12.345
    else:
        raw = text(value).lstrip("¥").removesuffix("元").strip()
        if _THOUSANDS.match(raw):
            raw = raw.replace(",", "")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise CellError(f"{raw!r} is not an amount in yuan", f"“{raw}”不是以元为单位的金额") from None
    if not amount.is_finite() or amount <= 0:
        raise CellError(f"{raw!r} must be an amount greater than zero", f"“{raw}”必须是大于零的金额")
    if amount != amount.quantize(Decimal("0.01")):
        raise CellError(f"{raw!r} has more than two decimals (a payment standard is in yuan and fen)",
                        f"“{raw}”超过两位小数（支付标准精确到分）")
    if amount >= MAX_MONEY:
        raise CellError(f"{raw!r} is too large for a payment standard", f"“{raw}”超出支付标准的合理范围")
    return amount.quantize(Decimal("0.01"))


def day(value: Any) -> date:
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise CellError(f"{value.isoformat()} carries a time of day; a date is expected",
                            f"“{value.isoformat()}”带有时刻，应为日期")
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value)
    for pattern in _DATE_RES:
        m = pattern.match(raw)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                break
    raise CellError(f"{raw!r} is not a date (write YYYY-MM-DD)", f"“{raw}”不是有效日期（应写作 YYYY-MM-DD）")


def gtin_ok(digits: str) -> bool:
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def pack_codes(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    prefixes: list[str] = []
    gtins: list[str] = []
    for item in (p for p in _SEPARATORS.split(text(value)) if p):
        item = item.removeprefix("(01)")
        if not item.isdigit() or len(item) > 19:
            raise CellError(f"{item!r} is neither a product prefix (digits) nor a GTIN-14",
                            f"“{item}”既不是追溯码前缀（数字），也不是 14 位 GTIN")
        if len(item) == 14:
            if not gtin_ok(item):
                raise CellError(f"{item!r}: 14 digits is a GTIN-14, and its check digit is wrong",
                                f"“{item}”为 14 位 GTIN，但校验位不正确")
            gtins.append(item)
        else:
            prefixes.append(item)
    return tuple(dict.fromkeys(prefixes)), tuple(dict.fromkeys(gtins))


def whole(value: Any) -> int:
    raw = text(value)
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 100_000:
        raise CellError(f"{raw!r} must be a whole number of units, at least 1", f"“{raw}”应为不小于 1 的整数")
    return int(raw)


def pharmacies(value: Any) -> tuple[str, ...]:
    codes = [p for p in _SEPARATORS.split(text(value)) if p]
    bad = [c for c in codes if not FIXMEDINS_RE.match(c)]
    if bad:
        raise CellError(f"{bad[0]!r} is not a 12-character designated-institution code",
                        f"“{bad[0]}”不是 12 位定点机构编码")
    return tuple(dict.fromkeys(codes))


def _field(cells: dict[str, Any], header: str, convert: Callable[[Any], Any], problems: list[ListProblem],
           line: int, required: bool = True) -> Any:
    raw = cells.get(header)
    if raw is None or text(raw) == "":
        if required:
            problems.append(ListProblem(line, header, "empty", "不能为空"))
        return None
    try:
        return convert(raw)
    except CellError as exc:
        problems.append(ListProblem(line, header, str(exc), exc.message_zh))
        return None


def entry_of(line: int, cells: dict[str, Any], mapping: Mapping, categories: frozenset[str],
             problems: list[ListProblem]) -> DualChannelEntry | None:
    """One row (canonical header → raw cell) → an entry, adding every fault of the row to ``problems``."""
    before = len(problems)

    def code(v: Any) -> str:
        raw = text(v)
        if not CODE_RE.match(raw):
            raise CellError(f"{raw!r} is not a national list code (letters and digits)",
                            f"“{raw}”不是医保目录编码（字母和数字）")
        return raw

    def category(v: Any) -> str:
        key = mapping.category(text(v))
        if key not in categories:
            allowed = ", ".join(sorted(categories))
            raise CellError(f"{text(v)!r} is not one of the region's categories ({allowed})",
                            f"“{text(v)}”不是本地区的双通道类别（{allowed}）")
        return key

    values = {
        "med_list_codg": _field(cells, "医保目录编码", code, problems, line),
        "generic_name": _field(cells, "通用名", text, problems, line),
        "drug_name": _field(cells, "药品名称", text, problems, line, required=False) or "",
        "dosage_form": _field(cells, "剂型", text, problems, line, required=False) or "",
        "spec": _field(cells, "规格", text, problems, line, required=False) or "",
        "category": _field(cells, "类别", category, problems, line),
        "payment_standard": _field(cells, "医保支付标准", money, problems, line),
        "agreement_start": _field(cells, "协议开始日期", day, problems, line),
        "agreement_end": _field(cells, "协议到期日期", day, problems, line),
        "transition_end": _field(cells, "过渡期截止日期", day, problems, line, required=False),
        "split_units": _field(cells, "拆零单位数", whole, problems, line, required=False),
        "pharmacies": _field(cells, "定点药店编码", pharmacies, problems, line, required=False) or (),
    }
    codes = _field(cells, "药品追溯码前缀", pack_codes, problems, line, required=False) or ((), ())
    start, end, transition = values["agreement_start"], values["agreement_end"], values["transition_end"]
    if start and end and end < start:
        problems.append(ListProblem(line, "协议到期日期", f"{end} is before the agreement start {start}",
                                    f"{end} 早于协议开始日期 {start}"))
    if end and transition and transition < end:
        problems.append(ListProblem(line, "过渡期截止日期", f"{transition} is before the agreement end {end}",
                                    f"{transition} 早于协议到期日期 {end}"))
    if len(problems) > before:
        return None
    return DualChannelEntry(trace_prefixes=codes[0], gtins=codes[1], line=line, **values)


def parse_table(table: Table, mapping: Mapping, categories: Iterable[str]) -> list[DualChannelEntry]:
    """Every row of the table → entries; raises ListRefused naming every bad row (and the first line of a
    duplicated code). An empty list (a header and no drugs) is refused too."""
    allowed = frozenset(categories)
    problems: list[ListProblem] = []
    entries: list[DualChannelEntry] = []
    first_line: dict[str, int] = {}
    for line, raw in table.rows:
        cells = {name: raw[i] if i < len(raw) else None for i, name in table.columns.items()}
        entry = entry_of(line, cells, mapping, allowed, problems)
        code = text(cells.get("医保目录编码"))
        if code and code in first_line:
            first = first_line[code]
            problems.append(ListProblem(line, "医保目录编码", f"duplicate code {code} (first on line {first})",
                                        f"编码 {code} 重复（首次出现在第 {first} 行）"))
            continue
        if code:
            first_line[code] = line
        if entry is not None:
            entries.append(entry)
    if not table.rows and not problems:
        problems.append(ListProblem(table.header_line, "", "the list has a header but no drugs",
                                    "目录只有表头，没有药品"))
    if problems:
        raise ListRefused(problems)
    return entries
