"""Classify one scanned string — a pack's traceability code, a GS1 DataMatrix, an ID number, an e-voucher, a social
security card, a prescription number — and parse it into the scan answer of docs/pos-integration.md.

Implements docs/gateway.md "Drug traceability codes": the domestic code (码上放心) is 20 digits beginning with 8,
and the platform refuses anything else before lookup, so we refuse it here first, saying exactly what is wrong;
some packs carry GS1 element strings (AI 01 GTIN, 17 expiry, 10 lot, 21 serial) instead. Most field failures are
scrambled scans (a lost group separator, a wrong keyboard mode, two codes run together), so each gets its own
message in English and Chinese rather than a silent ``unknown``.

Pure: no I/O, no clock. GS1 application identifiers come from ``biip``'s table, but the element strings are split
here: ``biip.parse`` costs ~90 µs a scan (it runs four parsers and scans 500 AIs linearly), resolves two-digit
years against the wall clock, and lets a lot silently swallow a serial when a separator is lost. Decisions:

* Domestic first: a fast regex accepts the common case (20 digits from 8, optional AIM prefix, CR/LF) before any
  other work, so a checkout lane's scans cost about a microsecond.
* Digit runs that look like a failed domestic code (18 < length < 25 from 8; 20 digits not from 8; 20 characters
  from 8 with letters; 40 digits that are two codes from 8) raise ``ScanError``, never ``unknown``.
* A lost separator after a lot or serial can hide the next field inside it. When the message lacks a serial,
  lot or expiry and this field holds that AI followed by valid data, it is refused ("separator missing"). The
  price: a pack without a serial whose lot reads like ``B21X`` is refused too; it had no pack identity anyway.
* GS1 years are 20YY: drug expiry dates are this century, and the GS1 sliding window would need the clock.
* Prescriptions: ``RX`` + 10–30 letters/digits (the sandbox), and 25–30 plain digits that start neither with 8
  (that is a broken trace code) nor with ``01`` (that is GS1). Anything shorter is too easily a mis-scan.
* Full-width characters (a Chinese IME left in 全角 mode) are folded to ASCII before classification.
* Scans altered on the way (Caps Lock, GS stand-ins, input methods, fragments: plugin/scanhints.py) carry
  ``hints``; a separator stand-in from the settings is read as GS inside GS1 element strings only.
* Prescription numbers: besides ``RX…``, two letters and 16–30 digits (the demo's ``HX3601…``), in either case.
* Manufacturers' own 20-digit codes that do not begin with 8 are ``other_code`` where the region allows them
  (``[scanning] other_codes``); elsewhere they stay refused as broken domestic codes.
"""
from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterable
from urllib.parse import unquote

from stdnum.cn import ric

from plugin.errors import InvalidInput, TraceCodeError
from plugin.privacy import mask_card, mask_certno, mask_token
from plugin.scanhints import (DEFAULT_GS_STANDINS, Hint, caps_lock_aim, has_ideographs, hint, id_number_plausible,
                              url_case_swapped, with_separators)

__all__ = ["MAX_SCAN_LENGTH", "KINDS", "PACK_KINDS", "Scan", "ScanError", "ScanRules", "classify", "product_matches",
           "check_expiry"]

#: A DataMatrix on a pack holds < 100 characters and an e-voucher URL < 300; longer input is not a scan.
MAX_SCAN_LENGTH = 512
KINDS = ("ecard", "ss_card", "id_card", "trace_code", "gs1", "prescription", "other_code", "unknown")
#: Kinds that name one pack (``code`` is the pack's identity for one-sale-per-pack).
PACK_KINDS = ("trace_code", "gs1", "other_code")

_GS = "\x1d"
_SPACE = " \t\r\n\xa0\u3000"
#: The 82 characters GS1 allows in alphanumeric fields (GS1 General Specifications, figure 7.11-1).
_GS1_CHAR = re.compile(r"[!%-?A-Z_a-z\x22]")
#: The common case, tested before anything else: optional AIM prefix, 20 digits from 8, scanner suffix.
_DOMESTIC_FAST = re.compile(r"[ \t\r\n]*(?:\][A-Za-z][0-9A-Za-z])?(8[0-9]{19})[ \t\r\n]*")
#: Control characters a scanner never sends; GS (FNC1), TAB, CR and LF are legitimate.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1c\x1e\x1f\x7f-\x9f]")
_AIM = re.compile(r"\][A-Za-z][0-9A-Za-z]")
#: AIM symbology identifiers that announce GS1 data: GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar, GS1 DotCode.
_GS1_AIMS = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_HRI_START = re.compile(r"\([0-9]{2,4}\)")
_HRI_PART = re.compile(r"\(([0-9]{2,4})\)([^(]*)")
_GS1_DIGITS_START = re.compile(r"01[0-9]{14}")
_DIGIT_OR_X = frozenset("0123456789Xx")


@functools.cache
def _ai_table() -> dict:
    """biip's table of GS1 application identifiers (biip 5.x: ai -> spec), loaded on the first GS1 scan: most
    scans are domestic codes, and the table costs ~16 MB of a counter PC's memory."""
    from biip.gs1_application_identifiers import _GS1_APPLICATION_IDENTIFIERS
    return _GS1_APPLICATION_IDENTIFIERS


@dataclass(frozen=True)
class ScanRules:
    """How this counter reads scans, from the settings: ``[store] trace_prefix_len`` and ``[scanning]``
    (``gs_standins``, per device too; ``other_codes``)."""
    product_prefix_len: int = 7
    gs_standins: tuple[str, ...] = DEFAULT_GS_STANDINS
    other_codes: bool = False

    def classify(self, raw: str) -> "Scan":
        return classify(raw, product_prefix_len=self.product_prefix_len, gs_standins=self.gs_standins,
                        other_codes=self.other_codes)


class ScanError(TraceCodeError):
    """A scan that is almost a pack code but broken; the message says what to fix (HTTP 400 TRACE_CODE_INVALID)."""

    def __init__(self, message: str, message_zh: str, *, fault: str, **details: Any):
        super().__init__("TRACE_CODE_INVALID", message, message_zh, {"fault": fault, **details})
        self.fault = fault


@dataclass(frozen=True)
class Scan:
    """One classified scan. ``fields`` is the public, masked part; the unmasked values (``cleaned``, ``cert_no``,
    ``token``, ``card_no``) are for the service to identify the patient and are kept out of ``repr`` and
    ``to_dict`` so that logging a scan never logs a person."""

    kind: str
    raw_length: int
    fields: dict = field(hash=False)
    code: str | None = None
    expiry: date | None = None
    gtin: str | None = None
    cleaned: str = field(default="", repr=False)
    cert_no: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    card_no: str | None = field(default=None, repr=False)
    hints: tuple[Hint, ...] = field(default=(), compare=False)

    @classmethod
    def _fast(cls, kind: str, raw_length: int, fields: dict, **values: Any) -> "Scan":
        """Build without the frozen ``__init__`` (a third of a domestic scan's cost); fields not given keep the
        class defaults that dataclass leaves on the class."""
        scan = object.__new__(cls)
        scan.__dict__.update(kind=kind, raw_length=raw_length, fields=fields, **values)
        return scan

    def to_dict(self) -> dict[str, Any]:
        """The scan answer of docs/pos-integration.md: ``{"kind", "raw_length", …fields}``."""
        return {"kind": self.kind, "raw_length": self.raw_length, **self.fields}


def classify(raw: str, *, product_prefix_len: int = 7, gs_standins: tuple[str, ...] = DEFAULT_GS_STANDINS,
             other_codes: bool = False) -> Scan:
    """Classify one scanned string. Raises only ``ScanError`` (a broken pack code) or ``InvalidInput`` (not a
    scan at all: too long, control characters, not text) for any text; ``ValueError`` only for a
    ``product_prefix_len`` outside 1..20, which is a configuration error, not a scan.

    ``gs_standins``: characters the scanner sends for FNC1/GS (``[scanning] gs_standins``); ``other_codes``: the
    region accepts manufacturers' own 20-digit codes (``[scanning] other_codes``)."""
    if not 1 <= product_prefix_len <= 20:
        raise ValueError(f"product_prefix_len must be 1..20, got {product_prefix_len}")
    if type(raw) is not str:
        raise InvalidInput("raw must be text.", "扫描内容必须是文本。", field="raw")
    n = len(raw)
    if n > MAX_SCAN_LENGTH:
        raise InvalidInput(f"A scan is at most {MAX_SCAN_LENGTH} characters; got {n}.",
                           f"扫描内容最多{MAX_SCAN_LENGTH}个字符，实际为{n}个。", field="raw", length=n)
    m = _DOMESTIC_FAST.fullmatch(raw)
    if m:
        code = m.group(1)
        return Scan._fast("trace_code", n, {"code": code, "product_prefix": code[:product_prefix_len]},
                          code=code, cleaned=code)
    bad = _CONTROL.search(raw)
    if bad:
        at = bad.start() + 1
        raise InvalidInput(f"The scan contains a control character (U+{ord(bad.group()):04X}) at position {at}.",
                           f"扫描内容含有控制字符（第{at}位），请重新扫描。", field="raw", position=at)
    s, aim, fnc1 = _clean(raw)
    if not s:
        return Scan._fast("unknown", n, {}, cleaned=s)
    if has_ideographs(s):
        return Scan._fast("unknown", n, {}, cleaned=s, hints=(hint("input_method"),))
    if gs_standins:
        s, fnc1 = _standins_as_gs(s, aim, fnc1, gs_standins)
    if caps_lock_aim(aim):
        caps = hint("caps_lock")
        raise ScanError(caps.message, caps.message_zh, fault="caps_lock", aim=aim)
    if s.isdigit() and s.isascii():
        if len(s) == 20 and s[0] == "8":
            return Scan._fast("trace_code", n, {"code": s, "product_prefix": s[:product_prefix_len]}, code=s, cleaned=s)
        if other_codes and len(s) == 20 and not _GS1_DIGITS_START.match(s):
            return Scan._fast("other_code", n, {"code": s, "product_prefix": s[:product_prefix_len]}, code=s,
                              cleaned=s, hints=(hint("other_code"),))
        if len(s) != 18 and not _GS1_DIGITS_START.match(s):
            _refuse_broken_domestic(s)
    if aim in _GS1_AIMS or fnc1 or _GS in s or _HRI_START.match(s) or _GS1_DIGITS_START.match(s):
        return _gs1_scan(s, n, hri=s[0] == "(", standin=gs_standins[0] if gs_standins else "")
    if len(s) == 20 and s[0] == "8":
        where = next(i for i, c in enumerate(s) if not "0" <= c <= "9")
        raise ScanError(f"A traceability code is 20 digits; this one has '{s[where]}' at position {where + 1} "
                        "(keyboard layout or input method?).",
                        f"追溯码应为20位数字，第{where + 1}位是“{s[where]}”（请检查键盘布局或输入法）。",
                        fault="non_digit", position=where + 1)
    for rule in _RULES:
        match = rule.pattern.fullmatch(s)
        if match:
            return rule.build(s, match, n)
    return Scan._fast("unknown", n, {}, cleaned=s)


def _clean(raw: str) -> tuple[str, str, bool]:
    """Strip whitespace and the scanner's suffix, fold full-width characters, remove the AIM prefix and a
    leading FNC1. Returns the cleaned text, the AIM identifier ("" if none) and whether FNC1 led the data."""
    s = raw.strip(_SPACE)  # not str.strip(): Python counts GS as whitespace, and a leading GS means FNC1
    if not s.isascii():
        s = s.translate(_FULLWIDTH).strip(_SPACE)
    aim = ""
    if s[:1] == "]" and _AIM.match(s):
        aim, s = s[:3], s[3:].lstrip(_SPACE)
    fnc1 = s[:1] == _GS
    s = s.strip(_GS + _SPACE)
    if " " in s or "-" in s:   # typed by hand from the print on the box, grouped: "8123 4567 …", "360102 1990…"
        compact = s.replace(" ", "").replace("-", "")
        if compact.isascii() and compact[:-1].isdigit() and compact[-1:] in _DIGIT_OR_X:
            s = compact
    return s, aim, fnc1


def _standins_as_gs(s: str, aim: str, fnc1: bool, standins: tuple[str, ...]) -> tuple[str, bool]:
    """A GS1 element string whose separators came as stand-ins: the stand-ins become GS (a leading one is FNC1).
    Anything else keeps its characters: ``|`` may well belong to another kind of text."""
    swapped = with_separators(s, standins)
    if swapped == s:
        return s, fnc1
    body = swapped.lstrip(_GS)
    if aim in _GS1_AIMS or caps_lock_aim(aim) or _GS1_DIGITS_START.match(body):
        return body.strip(_GS + _SPACE), fnc1 or swapped[:1] == _GS
    return s, fnc1


def _refuse_broken_domestic(s: str) -> None:
    """Digit runs that can only be a traceability code gone wrong: say how."""
    n = len(s)
    if n == 40 and s[0] == "8" and s[20] == "8":
        raise ScanError("Two traceability codes ran together (40 digits); scan each pack once, separately.",
                        "两个追溯码连在一起（40位），请逐盒分别扫描。", fault="two_codes", length=n)
    if s[0] == "8" and 18 < n < 25:
        raise ScanError(f"A traceability code has 20 digits; got {n}.",
                        f"追溯码应为20位数字，实际为{n}位。", fault="length", expected=20, got=n)
    if n == 20:
        raise ScanError(f"A traceability code begins with 8; this one begins with {s[0]}.",
                        f"追溯码应以8开头，实际以{s[0]}开头。", fault="prefix", got=s[0])


# --- GS1 ---------------------------------------------------------------------------------------------------------

_AI_NAMES = {"01": ("GTIN", "商品条码GTIN"), "17": ("expiry date", "有效期"), "10": ("lot", "批号"),
             "21": ("serial number", "序列号"), "11": ("production date", "生产日期"), "15": ("best-before date", "保质期")}
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


def _gs1_scan(s: str, n: int, *, hri: bool, standin: str = "") -> Scan:
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
    code = f"01{gtin}21{serial}" if gtin and serial else None
    expiry = dates.get("17")
    fields = {"gtin": gtin, "expiry": expiry.isoformat() if expiry else None, "lot": found.get("10"),
              "serial": serial, "code": code}
    return Scan._fast("gs1", n, fields, code=code, expiry=expiry, gtin=gtin, cleaned=s)


# --- patients and prescriptions: a table, so a new region's format is one line -----------------------------------

@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    build: Callable[[str, re.Match[str], int], Scan]


def _id_card(s: str, m: re.Match[str], n: int) -> Scan:
    cert_no = s.upper()
    valid = ric.calc_check_digit(cert_no) == cert_no[-1]
    hints = () if id_number_plausible(cert_no) else (hint("id_number_invalid"),)
    return Scan._fast("id_card", n, {"masked": mask_certno(cert_no), "valid_checksum": valid},
                      cleaned=s, cert_no=cert_no, hints=hints)


def _ecard(s: str, m: re.Match[str], n: int) -> Scan:
    token = unquote(m.group("token"))
    if not token.isprintable():   # "%00" and the like: keep the token as sent rather than decode to controls
        token = m.group("token")
    swapped = url_case_swapped(s) if s[:1] in "hH" else not token.startswith("ECARD")
    return Scan._fast("ecard", n, {"token_masked": mask_token(token)}, cleaned=s, token=token,
                      hints=(hint("caps_lock"),) if swapped else ())


def _ss_card(s: str, m: re.Match[str], n: int) -> Scan:
    card_no = m.group("card").upper()
    # a scanned or typed card number never carries the card's identification code (卡识别码, read by a reader)
    return Scan._fast("ss_card", n, {"masked": mask_card(card_no)}, cleaned=s, card_no=card_no,
                      hints=(hint("card_sn_needed"),))


def _prescription(s: str, m: re.Match[str], n: int) -> Scan:
    return Scan._fast("prescription", n, {"hi_rxno": s.upper()}, cleaned=s)


_RULES: tuple[_Rule, ...] = (
    # 居民身份证 and 港澳台居民居住证 (81/82/83…): 17 digits + check digit/X; the checksum is reported, not enforced,
    # so a patient with an odd legacy number can still be looked up.
    _Rule("id_card", re.compile(r"[0-9]{17}[0-9Xx]"), _id_card),
    # Sandbox e-voucher token: the whole string is the token ("ecard…" is the same token typed with Caps Lock on).
    _Rule("ecard", re.compile(r"(?P<token>(?:ECARD|ecard)[0-9A-Za-z]{16,64})"), _ecard),
    # 医保电子凭证 QR payloads as URLs (also app routes after '#'): the token is the qrcode= / ecToken= parameter.
    _Rule("ecard", re.compile(r"https?://\S*?[?&#](?:qrcode|ecToken)=(?P<token>[^&#\s]+)\S*", re.IGNORECASE),
          _ecard),
    # 社会保障卡 number: a letter + 8 digits (sandbox and most provinces); "SS" + digits on some readers.
    _Rule("ss_card", re.compile(r"(?P<card>[A-Za-z][0-9]{8})"), _ss_card),
    _Rule("ss_card", re.compile(r"(?P<card>SS[0-9]{8,20})"), _ss_card),
    # hi_rxno: see the module docstring for why plain digits are accepted only at 25–30 and not from 8 or 01.
    _Rule("prescription", re.compile(r"(?:RX|rx)[0-9A-Za-z]{10,30}"), _prescription),
    # the demo platform's hi_rxno: two letters (not a card's "SS") and 16–30 digits, e.g. HX36011100301000000001
    _Rule("prescription", re.compile(r"(?![Ss]{2})[A-Za-z]{2}[0-9]{16,30}"), _prescription),
    _Rule("prescription", re.compile(r"(?!8|01)[0-9]{25,30}"), _prescription),
)


# --- what the service asks of a classified pack -----------------------------------------------------------------

def _gtin14(value: str) -> str | None:
    value = value.strip()
    return value.zfill(14) if value.isdigit() and value.isascii() and len(value) in (8, 12, 13, 14) else None


def product_matches(scan: Scan, *, trace_prefixes: list[str], gtins: list[str]) -> bool:
    """Does this pack belong to the catalogue entry? A domestic code by its product prefix, a GS1 pack by its GTIN
    (GTIN-8/12/13 in the catalogue are compared as GTIN-14), a manufacturer's own code by a prefix the
    dual-channel list gives for it. An empty prefix matches nothing: a blank catalogue field must not accept every
    pack."""
    if scan.kind in ("trace_code", "other_code") and scan.code:
        return any(p and scan.code.startswith(p) for p in trace_prefixes)
    if scan.kind == "gs1" and scan.gtin:
        return scan.gtin in {g for g in map(_gtin14, gtins) if g}
    return False


def check_expiry(scan: Scan, today: date) -> None:
    """Refuse a pack past its expiry (有效期至 the expiry date inclusive). Domestic codes carry no date."""
    if scan.expiry is not None and scan.expiry < today:
        iso = scan.expiry.isoformat()
        raise TraceCodeError("TRACE_CODE_EXPIRED", f"This pack expired on {iso}.", f"该药品已于{iso}过期，不得销售。",
                          details={"expiry": iso})
