"""What happens to a scan on its way from the scanner to rxlane, read from the text alone, and the hints that tell
the pharmacist what to do about it.

A keyboard-wedge scanner types into whatever has the focus, through the keyboard's state and the input method:

* **Caps Lock** swaps the case of every letter (the scanner presses Shift for capitals; with Caps Lock on, Shift
  gives lower case). A GS1 serial ``SnQ5`` arrives as ``sNq5`` — another valid serial — so the pack ledger compares
  serials without case (plugin/packs.py), and this module names the scans where the swap is evident: an AIM
  identifier whose letter has the wrong case (``]D2`` for ``]d2``), an e-voucher URL whose scheme is upper case
  (``HTTPS://``), an e-voucher token beginning ``ecard``.
* **GS1 separator stand-ins**: many scanners are set to send a printable character for FNC1/GS, because a browser
  or a POS field drops the control character ``\\x1d``. ``|`` is common, and U+241D (the picture of GS) is what
  some scanners' "control character replacement" sends. The stand-ins are a setting (``[scanning] gs_standins``,
  and per device); they are read as GS only inside GS1 element strings, where GS1 forbids both characters.
* **Input methods**: a Chinese input method left in Chinese mode turns letters into a composition and digits into
  candidate choices, so a scan arrives with ideographs in it, or split in two. A scan holding ideographs is never a
  code rxlane knows; it is answered with a hint rather than "unrecognised". (The counter page also watches
  composition events and keystroke timing: plugin/web/static/counter.js.)
* **Fragments** of a longer code can look like an identity: 18 digits cut from a longer number would be looked up
  as a resident ID. An 18-character ID number whose check character or birth date is wrong is never handed on for
  an insurer lookup from a scan.

Pure: no I/O, no clock.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable

from stdnum.cn import ric

__all__ = ["Hint", "HINTS", "hint", "DEFAULT_GS_STANDINS", "caps_lock_aim", "url_case_swapped", "has_ideographs",
           "with_separators", "usable_standin", "id_number_plausible", "BLOCKING"]

GS = "\x1d"
#: What a scanner most often sends for FNC1/GS when told not to send the control character.
DEFAULT_GS_STANDINS = ("|", "\u241d")
#: AIM symbology identifiers that announce GS1 data, and their Caps-Lock twins. ``]E0`` is not here: it is the
#: legitimate identifier of EAN-13, so only twins that no symbology uses are evidence.
#: The 82 characters GS1 allows in data (General Specifications, figure 7.11-1): never a stand-in for GS.
_GS1_DATA = re.compile(r"[!%-?A-Z_a-z\x22]")
_CAPS_TWINS = {"]D2": "]d2", "]q3": "]Q3", "]c1": "]C1", "]j1": "]J1"}


@dataclass(frozen=True)
class Hint:
    """A note on a scan: what happened to it and what to do. ``code`` is stable (API answers carry it)."""
    code: str
    message: str
    message_zh: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "message_zh": self.message_zh}


HINTS: dict[str, Hint] = {h.code: h for h in [
    Hint("caps_lock", "Caps Lock seems to be on: the scanner's letters arrived with their case swapped. Turn Caps "
         "Lock off and scan again.",
         "大写锁定（Caps Lock）似乎已开启，扫码内容的字母大小写被颠倒；请关闭大写锁定后重新扫描。"),
    Hint("input_method", "The scan holds Chinese characters: an input method changed it on the way. Switch the input "
         "method to English (half-width) and scan again.",
         "扫描内容含有汉字，已被输入法改变；请将输入法切换为英文（半角）后重新扫描。"),
    Hint("id_number_invalid", "This is not a valid resident ID number (check character or birth date wrong; an "
         "incomplete or altered scan?). It was not looked up; check it and scan or type it again.",
         "身份证号校验不通过（校验位或出生日期不对，可能扫描不完整或被改变），未向医保查询；请核对后重新扫描或输入。"),
    Hint("card_sn_needed", "A social-security card is identified with its card identification code, which only a "
         "card reader reads: put the card on the reader, or scan the patient's e-voucher.",
         "社保卡需读卡器读取卡识别码，不能只输入卡号：请将社保卡放在读卡器上读卡，或扫描医保电子凭证。"),
    Hint("product_unchecked", "The dual-channel list gives no pack prefix or GTIN for this drug, so the pack was not "
         "checked against it: make sure the pack is the drug on the line.",
         "双通道目录未给出该药品的追溯码前缀或条码，无法从码核对药品，请确认药盒与该行药品一致。"),
    Hint("other_code", "Not a national (码上放心) traceability code: recorded as the manufacturer's own code. Its "
         "drug cannot be checked from the code; make sure the pack is the drug on the line.",
         "非“码上放心”药品追溯码，按企业自有追溯码记录；无法从码核对药品，请确认药盒与该行药品一致。"),
]}

#: Hints after which the scan must not identify anyone: the text is not what the scanner read.
BLOCKING = frozenset({"caps_lock", "input_method", "id_number_invalid", "card_sn_needed"})


def hint(code: str) -> Hint:
    return HINTS[code]


def caps_lock_aim(aim: str) -> bool:
    """An AIM identifier that exists only as the case-swapped twin of a GS1 one."""
    return aim in _CAPS_TWINS


def url_case_swapped(text: str) -> bool:
    """E-voucher payloads are URLs written with a lower-case scheme; ``HTTPS://`` is typed with Caps Lock on (or by a
    scanner forced to upper case): the token's letters are not the ones in the QR code."""
    return text.startswith(("HTTP://", "HTTPS://"))


def has_ideographs(text: str) -> bool:
    """Wide (CJK) characters left after full-width folding: an input method composed them."""
    if text.isascii():   # the common case, and the fast one: most scans are plain ASCII
        return False
    return any(unicodedata.east_asian_width(ch) == "W" for ch in text if not ch.isascii())


def with_separators(text: str, standins: Iterable[str]) -> str:
    """``text`` with each stand-in character turned back into GS."""
    for ch in standins:
        if ch and ch in text:
            text = text.replace(ch, GS)
    return text


def usable_standin(ch: str) -> bool:
    """One printable character that GS1 data never holds (``|``, ``~``, ``^``, U+241D …), so reading it as GS
    cannot change a lot or a serial."""
    return len(ch) == 1 and ch.isprintable() and not ch.isspace() and not _GS1_DATA.match(ch)


def id_number_plausible(cert_no: str) -> bool:
    """18 characters whose check character and birth date are right (GB 11643). The place code is not checked: new
    division codes and residence-permit numbers (81/82/83) would be refused by a stale table."""
    if len(cert_no) != 18 or not cert_no[:17].isdigit():
        return False
    try:
        if ric.calc_check_digit(cert_no) != cert_no[-1].upper():
            return False
        ric.get_birth_date(cert_no)
    except ValueError:   # stdnum's ValidationError (a ValueError) for an impossible date
        return False
    return True
