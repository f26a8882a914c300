"""Classify one scanned string — a pack's traceability code, a GS1 DataMatrix, an ID number, an e-voucher, a social
security card, a prescription number — and parse it into the scan answer of docs/pos-integration.md.

Implements docs/gateway.md "Drug traceability codes": the domestic code (码上放心) is 20 digits beginning with 8,
and the platform refuses anything else before lookup, so we refuse it here first, saying exactly what is wrong;
some packs carry GS1 element strings (AI 01 GTIN, 17 expiry, 10 lot, 21 serial) instead, read by plugin/gs1.py.
Most field failures are scrambled scans (a lost group separator, a wrong keyboard mode, two codes run together), so
each gets its own message in English and Chinese rather than a silent ``unknown``.

Pure: no I/O, no clock. Decisions:

* Domestic first: a fast regex accepts the common case (20 digits from 8, optional AIM prefix, CR/LF) before any
  other work, so a checkout lane's scans cost about a microsecond.
* Digit runs that look like a failed domestic code (18 < length < 25 from 8; 20 digits not from 8; 20 characters
  from 8 with letters; 40 digits that are two codes from 8) raise ``ScanError``, never ``unknown``.
* A lost separator after a lot or serial can hide the next field inside it. When the message lacks a serial,
  lot or expiry and this field holds that AI followed by valid data, it is refused ("separator missing"). The
  price: a pack without a serial whose lot reads like ``B21X`` is refused too; it had no pack identity anyway.
* E-voucher QR values are 28 digits (a captured one ends with the insuring division's six digits); a URL carrying
  ``qrcode=``/``ecToken=`` is one too.
* Prescriptions: ``RX`` + 10–30 letters/digits (the sandbox), and 25–30 plain digits (but 28: an e-voucher) that
  start neither with 8 (that is a broken trace code) nor with ``01`` (that is GS1). Anything shorter is too easily a
  mis-scan.
* Full-width characters (a Chinese IME left in 全角 mode) are folded to ASCII before classification.
* Scans altered on the way (Caps Lock, GS stand-ins, input methods, fragments: plugin/scanhints.py) carry
  ``hints``; a separator stand-in from the settings is read as GS inside GS1 element strings only.
* Prescription numbers: besides ``RX…``, two letters and 16–30 digits (the demo's ``HX3601…``), in either case.
* Manufacturers' own 20-digit codes that do not begin with 8 are ``other_code`` where the region allows them
  (``[scanning] other_codes``); elsewhere they stay refused as broken domestic codes.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import unquote

from stdnum.cn import ric

from plugin.errors import InvalidInput, TraceCodeError
from plugin.gs1 import ScanError, read_gs1
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
#: The common case, tested before anything else: optional AIM prefix, 20 digits from 8, scanner suffix.
_DOMESTIC_FAST = re.compile(r"[ \t\r\n]*(?:\][A-Za-z][0-9A-Za-z])?(8[0-9]{19})[ \t\r\n]*")
#: Control characters a scanner never sends; GS (FNC1), TAB, CR and LF are legitimate.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1c\x1e\x1f\x7f-\x9f]")
_AIM = re.compile(r"\][A-Za-z][0-9A-Za-z]")
#: AIM symbology identifiers that announce GS1 data: GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar, GS1 DotCode.
_GS1_AIMS = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_HRI_START = re.compile(r"\([0-9]{2,4}\)")
_GS1_DIGITS_START = re.compile(r"01[0-9]{14}")
_DIGIT_OR_X = frozenset("0123456789Xx")


@dataclass(frozen=True)
class ScanRules:
    """How this counter reads scans, from the settings: ``[store] trace_prefix_len`` and ``[scanning]``
    (``gs_standins``, per device too; ``other_codes``)."""
    product_prefix_len: int = 7
    gs_standins: tuple[str, ...] = DEFAULT_GS_STANDINS
    other_codes: bool = False

    def classify(self, raw: str) -> Scan:
        return classify(raw, product_prefix_len=self.product_prefix_len, gs_standins=self.gs_standins,
                        other_codes=self.other_codes)


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
    def _fast(cls, kind: str, raw_length: int, fields: dict, **values: Any) -> Scan:
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


def _gs1_scan(s: str, n: int, *, hri: bool, standin: str = "") -> Scan:
    read = read_gs1(s, hri=hri, standin=standin)
    fields = {"gtin": read.gtin, "expiry": read.expiry.isoformat() if read.expiry else None, "lot": read.lot,
              "serial": read.serial, "code": read.code}
    if read.produced is not None:   # the production date a 3505 reports (manu_date), where the pack carries it
        fields["production_date"] = read.produced.isoformat()
    return Scan._fast("gs1", n, fields, code=read.code, expiry=read.expiry, gtin=read.gtin, cleaned=s)


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
    swapped = url_case_swapped(s) if s[:1] in "hH" else token.startswith("ecard")
    return Scan._fast("ecard", n, {"token_masked": mask_token(token)}, cleaned=s, token=token,
                      hints=(hint("caps_lock"),) if swapped else ())


def _ecard_qr(s: str, m: re.Match[str], n: int) -> Scan:
    # digits have no case: no Caps Lock hint; the value goes to the decode service, which answers the token
    return Scan._fast("ecard", n, {"token_masked": mask_token(s)}, cleaned=s, token=s)


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
    # the national e-voucher QR value as the patient's phone shows it: 28 digits (a captured one:
    # 4243754826492874240001130000, the last six the insuring division), before the 25–30-digit prescription rule
    # below, which would otherwise take it. The decode service turns it into a token (docs/gateway.md).
    _Rule("ecard", re.compile(r"(?!8)[0-9]{28}"), _ecard_qr),
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
