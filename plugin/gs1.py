"""GS1 element strings on drug packs (AI 01 GTIN, 17 expiry, 10 lot, 21 serial …): split, checked and dated, with
every fault named — most faults are scrambled scans (a lost group separator, a wrong keyboard mode), so each gets its
own message in English and Chinese, and a separator lost on the way says what to set on the scanner.

Application identifiers come from ``biip``'s table, but the element strings are split here: ``biip.parse`` costs
~90 µs a scan, resolves two-digit years against the wall clock, and lets a lot silently swallow a serial when a
separator is lost. GS1 years are 20YY (drug expiry dates are this century; the sliding window would need a clock).
Pure: no I/O, no clock. Used by plugin/tracecode.py, which classifies every kind of scan.
"""
from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from plugin.errors import TraceCodeError

__all__ = ["Gs1Read", "ScanError", "read_gs1"]

_GS = "\x1d"
#: The 82 characters GS1 allows in alphanumeric fields (GS1 General Specifications, figure 7.11-1).
_GS1_CHAR = re.compile(r"[!%-?A-Z_a-z\x22]")
_HRI_PART = re.compile(r"\(([0-9]{2,4})\)([^(]*)")


@functools.cache
def _ai_table() -> dict:
    """biip's table of GS1 application identifiers (biip 5.x: ai -> spec), loaded on the first GS1 scan: most
    scans are domestic codes, and the table costs ~16 MB of a counter PC's memory."""
    from biip.gs1_application_identifiers import _GS1_APPLICATION_IDENTIFIERS
    return _GS1_APPLICATION_IDENTIFIERS


class ScanError(TraceCodeError):
    """A scan that is almost a pack code but broken; the message says what to fix (HTTP 400 TRACE_CODE_INVALID)."""

    def __init__(self, message: str, message_zh: str, *, fault: str, **details: Any):
        super().__init__("TRACE_CODE_INVALID", message, message_zh, {"fault": fault, **details})
        self.fault = fault


@dataclass(frozen=True)
class Gs1Read:
    """What a GS1 element string says about a pack; ``code`` (GTIN + serial) is its identity, or None."""
    gtin: str | None
    expiry: date | None
    lot: str | None
    serial: str | None
    code: str | None
    produced: date | None = None       # AI 11, the production date (a 3505 reports it as manu_date)


_AI_NAMES = {"01": ("GTIN", "商品条码GTIN"), "17": ("expiry date", "有效期"), "10": ("lot", "批号"),
             "21": ("serial number", "序列号"), "11": ("production date", "生产日期"),
             "15": ("best-before date", "保质期")}
_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17"})
_AI_RE: dict[str, re.Pattern[str]] = {}


def _ai_re(ai: str) -> re.Pattern[str]:
    """biip's pattern for an AI, without anchors, compiled once; ``match(text, pos)`` then reads in place."""
    pattern = _AI_RE.get(ai)
    if pattern is None:
        pattern = _AI_RE[ai] = re.compile(_ai_table()[ai].pattern.removeprefix("^").removesuffix("$"))
    return pattern


def _name(ai: str) -> tuple[str, str]:
    en, zh = _AI_NAMES.get(ai, (_ai_table()[ai].data_title if ai in _ai_table() else "field", "字段"))
    return f"{en} (AI {ai})", f"{zh}（AI {ai}）"


def _gs1_fault(fault: str, ai: str, en: str, zh: str, **details: Any) -> ScanError:
    name_en, name_zh = _name(ai)
    return ScanError(f"GS1 code: {name_en} {en}", f"GS1码：{name_zh}{zh}", fault=fault, ai=ai, **details)


def _lost_separator(ai: str, en: str, zh: str, standin: str, **details: Any) -> ScanError:
    """A separator lost on the way, not a misread: scanning again gives the same text, so say what to set."""
    sub = standin or "|"
    return _gs1_fault("separator", ai, f"{en} Scanning again gives the same result: set the scanner to send GS for "
                      f"FNC1, or a stand-in such as '{sub}' (the counter's scanning.gs_standins setting).",
                      f"{zh}重新扫描结果相同：请将扫码枪设置为发送GS分隔符，或用替代字符“{sub}”代替"
                      "（与本机 scanning.gs_standins 设置一致）。", advice="configure_scanner", **details)


def _split_elements(s: str, standin: str = "") -> list[tuple[str, str]]:
    """Element-string form: AIs back to back, variable-length ones ended by GS (FNC1) unless last."""
    out: list[tuple[str, str]] = []
    for segment in s.split(_GS):
        pos, end = 0, len(segment)
        while pos < end:
            ai = segment[pos:pos + 2]  # GS1 AIs are prefix-free, so the first hit is the AI
            if ai not in _ai_table():
                ai = segment[pos:pos + 3]
                if ai not in _ai_table():
                    ai = segment[pos:pos + 4]
            if ai not in _ai_table():
                raise ScanError(f"GS1 code: no known application identifier at '{segment[pos:pos + 4]}' "
                                f"(position {pos + 1}).", f"GS1码：第{pos + 1}位起不是有效的应用标识符（AI）。",
                                fault="unknown_ai")
            m = _ai_re(ai).match(segment, pos)
            if m is None:
                if ai in _DATE_AIS and segment[pos + 2:pos + 8].isdigit():
                    _gs1_date(ai, segment[pos + 2:pos + 8])  # names an impossible date as such
                raise _gs1_fault("malformed", ai, f"is malformed ({_ai_table()[ai].format}).",
                                 f"格式不正确（应为{_ai_table()[ai].format}）。")
            pos = m.end()
            if _ai_table()[ai].separator_required and pos < end:
                if _GS1_CHAR.match(segment, pos):
                    raise _lost_separator(ai, "runs into the next field: a separator (FNC1/GS) is missing.",
                                          "与后一字段连在一起：缺少分隔符（FNC1/GS）。", standin)
                raise _gs1_fault("character", ai, f"contains a character GS1 does not allow: '{segment[pos]}'.",
                                 f"含有GS1不允许的字符“{segment[pos]}”。")
            out.append((ai, m.group(1) if m.lastindex == 1 else "".join(g for g in m.groups() if g)))
    return out


def _split_hri(s: str) -> list[tuple[str, str]]:
    """Human-readable form ``(01)…(17)…(10)…(21)…``: the brackets delimit, so no separator can be lost."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _HRI_PART.finditer(s):
        if m.start() != pos:
            break
        ai, value = m.group(1), m.group(2).strip()
        if ai not in _ai_table():
            raise ScanError(f"GS1 code: unknown application identifier ({ai}).",
                            f"GS1码：未知的应用标识符（{ai}）。", fault="unknown_ai", ai=ai)
        if not _ai_re(ai).fullmatch(ai + value):
            if ai in _DATE_AIS and len(value) == 6 and value.isdigit():
                _gs1_date(ai, value)
            raise _gs1_fault("malformed", ai, f"is malformed ({_ai_table()[ai].format}).",
                             f"格式不正确（应为{_ai_table()[ai].format}）。")
        out.append((ai, value))
        pos = m.end()
    if pos != len(s):
        raise ScanError("GS1 code: text outside the (AI)value pairs.", "GS1码：括号格式不完整。", fault="malformed")
    return out


def _gs1_date(ai: str, value: str) -> date:
    """YYMMDD as 20YY; day 00 means the last day of the month (GS1 General Specifications §7.12)."""
    year, month, day = 2000 + int(value[:2]), int(value[2:4]), int(value[4:6])
    if 1 <= month <= 12:
        last = calendar.monthrange(year, month)[1]
        if day == 0:
            return date(year, month, last)
        if day <= last:
            return date(year, month, day)
    raise _gs1_fault("date", ai, f"'{value}' is not a real date (YYMMDD).", f"“{value}”不是有效日期（YYMMDD）。",
                     value=value)


def _gtin_check_digit(body: str) -> int:
    """GS1 mod-10: weights 3, 1, 3, … from the right (General Specifications §7.9.1)."""
    total = 3 * sum(map(int, body[::-2])) + sum(map(int, body[-2::-2]))
    return -total % 10


def _check_swallowed(ai: str, value: str, present: Iterable[str], standin: str = "") -> None:
    """A lost GS after a lot or serial lets it swallow the next field whole. Caught when the field it hides
    is missing from the message and its AI, followed by valid data, sits inside this value."""
    for hidden in ("21", "10", "17"):
        if hidden == ai or hidden in present:
            continue
        i = value.find(hidden, 1)
        while i != -1:
            if _ai_re(hidden).match(value, i) and (hidden != "17" or _is_date(value[i + 2:i + 8])):
                inner_en, inner_zh = _name(hidden)
                raise _lost_separator(ai, f"seems to contain the {inner_en}: a separator (FNC1/GS) is missing.",
                                      f"似乎包含了{inner_zh}：缺少分隔符（FNC1/GS）。", standin, hidden_ai=hidden)
            i = value.find(hidden, i + 1)


def _is_date(value: str) -> bool:
    try:
        _gs1_date("17", value)
    except ScanError:
        return False
    return True


def read_gs1(s: str, *, hri: bool, standin: str = "") -> Gs1Read:
    """The fields of one GS1 element string (``hri``: the bracketed human-readable form); ``ScanError`` naming
    the fault otherwise. ``standin``: the separator stand-in the lost-separator advice names."""
    elements = _split_hri(s) if hri else _split_elements(s, standin)
    found: dict[str, str] = {}
    for ai, value in elements:
        if found.setdefault(ai, value) != value:
            raise _gs1_fault("duplicate", ai, "appears twice with different values.", "出现两次且内容不同。")
    gtin = found.get("01")
    if gtin is not None and _gtin_check_digit(gtin[:13]) != int(gtin[13]):
        raise _gs1_fault("check_digit", "01", f"'{gtin}' has a wrong check digit: expected "
                         f"{_gtin_check_digit(gtin[:13])}, got {gtin[13]}.",
                         f"“{gtin}”校验位错误：应为{_gtin_check_digit(gtin[:13])}，实际为{gtin[13]}。")
    dates = {ai: _gs1_date(ai, v) for ai, v in found.items() if ai in _DATE_AIS}
    if not hri:
        for ai in ("10", "21"):   # lot and serial: the variable fields a pharma DataMatrix always carries
            if ai in found:
                _check_swallowed(ai, found[ai], found, standin)
    serial = found.get("21")
    return Gs1Read(gtin=gtin, expiry=dates.get("17"), lot=found.get("10"), serial=serial,
                   code=f"01{gtin}21{serial}" if gtin and serial else None, produced=dates.get("11"))
