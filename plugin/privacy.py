"""Masking of personal data (个人信息保护法): names, ID numbers, card numbers, e-voucher tokens.

Answers mask unless the caller holds the `pii` scope; logs, errors and the audit trail always mask.
"""
from __future__ import annotations

import re


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


def scrub(text: str) -> str:
    """Mask anything in free text that looks like an 18-digit resident ID number (logs, upstream messages)."""
    return _ID_RE.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(3), text)
