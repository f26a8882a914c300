"""The standard social-security card interface (社会保障卡读写终端 standard library: `iReadCardBas`, `iVerifyPIN`):
what its answers mean, without any I/O. The driver that calls the vendor's library is `hardware/sscard_lib.py`.

`iReadCardBas(iType, pOutInfo)` returns 0 and writes eleven fields, each ended by `|`, in the terminal's ANSI code
page (GBK on a Chinese Windows; vendors' Linux builds keep it):

    发卡地区行政区划代码 | 社会保障号码 | 卡号 | 卡识别码 | 姓名 | 卡复位信息 |
    规范版本 | 发卡日期 | 卡有效期 | 终端机编号 | 终端设备号 |

i.e. issuing area (6 digits), social security number (the citizen ID number), card number (1101 `mdtrt_cert_no` with
`mdtrt_cert_type` 03), card identification code (1101 `card_sn`, 32 characters), name, reset information (ATR
historical bytes), specification version, issue date and expiry (yyyymmdd), terminal number, terminal device number.
Any other return code means `pOutInfo` holds the vendor's reason instead; the codes below are the standard's
(-2 no card, -11 reader connection error, -51 wrong PIN …). `iType`: 1 contact, 2 contactless, 3 either with contact
first, 4 either with contactless first.

Errors carry the codes of rxlane's catalogue (plugin/api/errors.py) as plain strings; hardware never imports plugin.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from hardware.device import State

FIELDS = 11
_CARD_FIELD = re.compile(r"[0-9A-Za-z]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
READ_TYPES = {1: "contact", 2: "contactless", 3: "either, contact first", 4: "either, contactless first"}


@dataclass(frozen=True, repr=False)
class SsCard:
    """One card as iReadCardBas describes it. Holds personal data: never logged, never answered unmasked."""
    area: str
    ssn: str
    card_no: str
    card_sn: str
    name: str
    reset_info: str
    spec_version: str
    issued: date | None
    expires: date | None
    terminal_no: str
    terminal_device: str

    def __repr__(self) -> str:
        return f"SsCard(area={self.area!r}, card_no={self.card_no[:2]}***, spec_version={self.spec_version!r})"

    @property
    def canonical(self) -> str:
        """`card_no|card_sn`, the frame every card reader driver hands to the service."""
        return f"{self.card_no}|{self.card_sn}"


class CardAnswerError(Exception):
    """The library said 0 but its text is not a card: `code` is DEVICE_LIBRARY_BAD_ANSWER (not GBK, fields missing)
    or CARD_UNREADABLE (the card's own number is not one)."""

    def __init__(self, code: str, message: str, message_zh: str):
        super().__init__(message)
        self.code, self.message, self.message_zh = code, message, message_zh


def parse_card_info(raw: bytes) -> SsCard:
    """pOutInfo bytes (up to the NUL) → SsCard; `CardAnswerError` when it is not GBK or not eleven fields."""
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise CardAnswerError("DEVICE_LIBRARY_BAD_ANSWER", "the card reader library's answer is not GBK text",
                              "读卡库返回的内容不是 GBK 编码的文本，无法识别。") from None
    fields = [f.strip() for f in text.split("|")]
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) < FIELDS:
        raise CardAnswerError("DEVICE_LIBRARY_BAD_ANSWER",
                              f"the card reader library answered {len(fields)} of {FIELDS} fields (truncated)",
                              "读卡库返回的卡信息不完整（字段缺失），请重新读卡。")
    area, ssn, card_no, card_sn, name, reset_info, version, issued, expires, terminal_no, device = fields[:FIELDS]
    if not (_CARD_FIELD.fullmatch(card_no) and _CARD_FIELD.fullmatch(card_sn)):
        raise CardAnswerError("CARD_UNREADABLE", "the card number or identification code on the card is not valid",
                              "卡片上的卡号或卡识别码无效，请重新插卡；仍失败请患者到社保经办机构检测卡片。")
    return SsCard(area=area, ssn=ssn, card_no=card_no, card_sn=card_sn, name=name, reset_info=reset_info,
                  spec_version=version, issued=_date(issued), expires=_date(expires), terminal_no=terminal_no,
                  terminal_device=device)


def _date(text: str) -> date | None:
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def vendor_text(raw: bytes, limit: int = 80) -> str:
    """The vendor's reason text, readable whatever its bytes (it is only shown, never parsed)."""
    return _CONTROL.sub("", raw.decode("gb18030", errors="replace")).strip()[:limit]


@dataclass(frozen=True)
class Outcome:
    """What a non-zero return code means: the catalogue code, the device's state afterwards, the pharmacist's words."""
    code: str
    state: State
    message: str
    message_zh: str


_NOT_CONNECTED = {-11, -12}
_READER_SETUP = {-5, -13, -14, -24, -2201, -2202, -2203}
_PIN_CANCELLED = {-31, -32}
_PIN_REJECTED = {-33, -34, -35, -36, -51}


def outcome_of(ret: int, text: str) -> Outcome:
    """A return code of iReadCardBas or iVerifyPIN (the standard's table) with the vendor's text → Outcome."""
    why = f"（厂家库返回 {ret}{'：' + text if text else ''}）"
    if ret == -2:
        return Outcome("CARD_NOT_PRESENT", "connected", "no card in the reader",
                       "读卡器上没有社保卡，请插入或放置社保卡后重新读卡。")
    if ret in _NOT_CONNECTED:
        return Outcome("CARD_READER_UNAVAILABLE", "disconnected", f"card reader not connected (code {ret})",
                       f"读卡器未连接{why}，请检查读卡器的 USB 线和电源后重试。")
    if ret in _READER_SETUP:
        return Outcome("CARD_READER_UNAVAILABLE", "error", f"card reader or its PSAM is not set up (code {ret})",
                       f"读卡器或其安全模块（PSAM）配置有误{why}，请联系读卡器厂家。")
    if ret in _PIN_CANCELLED:
        return Outcome("CARD_PIN_CANCELLED", "connected", f"PIN entry cancelled or timed out (code {ret})",
                       f"密码输入已取消或超时{why}，请让患者重新输入密码。")
    if ret == -35:
        return Outcome("CARD_PIN_REJECTED", "connected", "the card still has its initial PIN",
                       f"社保卡仍是初始密码，不能交易{why}，请患者先修改密码。")
    if ret in _PIN_REJECTED:
        return Outcome("CARD_PIN_REJECTED", "connected", f"wrong card PIN (code {ret})",
                       f"社保卡密码错误{why}，请患者重新输入。")
    if ret == -52:
        return Outcome("CARD_PIN_LOCKED", "connected", "the card PIN is locked",
                       f"社保卡密码已锁定{why}，请患者到社保经办机构解锁。")
    return Outcome("CARD_UNREADABLE", "connected", f"the card could not be read (code {ret})",
                   f"社保卡无法读取{why}，请重新插卡；仍失败请患者到社保经办机构检测卡片。")


#: Every catalogue code this module and the driver can produce (a test holds them against plugin/api/errors.py).
CODES = ("CARD_NOT_PRESENT", "CARD_UNREADABLE", "CARD_READER_UNAVAILABLE", "CARD_PIN_CANCELLED", "CARD_PIN_REJECTED",
         "CARD_PIN_LOCKED", "DEVICE_LIBRARY_BAD_ANSWER", "DEVICE_LIBRARY_UNAVAILABLE", "DEVICE_LIBRARY_FAILED")
