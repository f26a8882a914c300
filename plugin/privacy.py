"""Masking of personal data (个人信息保护法): names, ID numbers, card numbers, e-voucher tokens.

Answers mask unless the caller holds the `pii` scope; logs, errors and the audit trail always mask.
"""
from __future__ import annotations

import re
from collections.abc import Callable


def mask_middle(value: str | None, keep_start: int, keep_end: int) -> str:
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        return value[:1] + "*" * (len(value) - 1)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[len(value) - keep_end:]


def mask_certno(value: str | None) -> str:
    """`360102199001011234` → `3601**********1234`."""
    return mask_middle(value, 4, 4)


def mask_card(value: str | None) -> str:
    return mask_middle(value, 3, 2)


def mask_token(value: str | None) -> str:
    return mask_middle(value, 4, 4)


def mask_name(value: str | None) -> str:
    """`张三` → `张*`, `欧阳娜娜` → `欧***`, `Li Lei` → `L*****`."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)


def mask_psn_no(value: str | None) -> str:
    return mask_middle(value, 4, 3)


_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
# 社会保障卡 card number: a letter and eight digits (plugin/tracecode.py reads it the same way)
_CARD_RE = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]\d{8}(?![0-9A-Za-z])")
# 医保电子凭证 tokens: the ECARD… form and the qrcode=/ecToken= parameter of a voucher URL
_ECARD_RE = re.compile(r"ECARD[0-9A-Za-z]{16,64}")
_ECARD_PARAM_RE = re.compile(r"(?i)((?:qrcode|ectoken)=)([^&#\s\"']+)")
# rxlane's own API tokens (plugin/tokens.py)
_API_TOKEN_RE = re.compile(r"rxl_[A-Za-z0-9_\-]{8,}")

#: Keys whose value is a person's name or number, wherever they appear (journal bodies, log events, answers).
NAME_KEYS = frozenset({"psn_name", "patn_name"})
CERT_KEYS = frozenset({"certno", "cert_no", "psn_cert_no", "mdtrt_cert_no"})
CARD_KEYS = frozenset({"card_sn", "card_no"})
TOKEN_KEYS = frozenset({"ectoken", "ec_token", "qrcode", "token", "scan_ref_token"})
_KEYED_RE = re.compile(r'"(?P<key>[A-Za-z_]+)"(?P<sep>\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"')


def mask_value(key: str, value: str) -> str:
    """``value`` masked as what ``key`` names (a name, an ID or card number, a token); unchanged otherwise."""
    k = key.lower()
    if k in NAME_KEYS:
        return mask_name(value)
    if k in CERT_KEYS:
        return mask_certno(value)
    if k in CARD_KEYS:
        return mask_card(value)
    if k in TOKEN_KEYS:
        return mask_token(value)
    return value


def scrub(text: str) -> str:
    """Mask personal data in free text (logs, journal dumps, error details, upstream messages): 18-digit resident
    ID numbers, social-security card numbers, e-voucher tokens, API tokens, and the value of any JSON field named
    like a name or number (``"psn_name": "张伟"``). A name in prose cannot be recognised: callers log fields, not
    sentences, and fields named for names are masked by key (plugin/logs.py)."""
    if not text:
        return text
    text = _KEYED_RE.sub(_keyed, text)
    text = _ID_RE.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(3), text)
    text = _ECARD_RE.sub(lambda m: mask_token(m.group(0)), text)
    text = _ECARD_PARAM_RE.sub(lambda m: m.group(1) + mask_token(m.group(2)), text)
    text = _API_TOKEN_RE.sub("rxl_********", text)
    return _CARD_RE.sub(lambda m: mask_card(m.group(0)), text)


def _keyed(m: re.Match[str]) -> str:
    masked = mask_value(m.group("key"), m.group("value"))
    return m.group(0) if masked == m.group("value") else f'"{m.group("key")}"{m.group("sep")}"{masked}"'


def scrub_data(value: object, *, mask: Callable[[str, str], str] = mask_value,
               text: Callable[[str], str] | None = scrub) -> object:
    """``scrub`` through a JSON-shaped value: fields named like personal data masked (``mask``), other strings
    scrubbed (``text``; None leaves them as they are)."""
    if isinstance(value, str):
        return text(value) if text is not None else value
    if isinstance(value, dict):
        return {k: mask(k, v) if isinstance(v, str) and mask(k, v) != v else scrub_data(v, mask=mask, text=text)
                for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_data(v, mask=mask, text=text) for v in value]
    return value


def _answer_mask(key: str, value: str) -> str:
    return mask_psn_no(value) if key == "psn_no" else mask_value(key, value)


def masked_answer(value: object) -> object:
    """An API answer for a caller without the ``pii`` scope: the insurer's person number (``psn_no``) masked, and
    names, ID and card numbers and tokens masked by the key that holds them (``mask_value``), nested values too."""
    return scrub_data(value, mask=_answer_mask, text=None)
