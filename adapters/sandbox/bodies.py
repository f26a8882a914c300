"""Reading the sandbox admin API's JSON bodies (docs/sandbox.md): typed values out, or ``InvalidInput`` naming the
field in English and Chinese. Any JSON at all may arrive here (partner suites, hostile-input tests), so every reader
checks the type before it touches the value and none of them raises anything else.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from plugin.errors import InvalidInput

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")
ADMDVS = re.compile(r"\d{6}")
MAX_TEXT = 500


def bad(field: str, en: str, zh: str) -> InvalidInput:
    return InvalidInput(f"{field}: {en}", f"字段 {field}：{zh}", field=field)


def obj(value: Any, field: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise bad(field or "body", "must be a JSON object.", "必须是 JSON 对象。")
    return value


def rows(value: Any, field: str, *, required: bool = True) -> list[dict[str, Any]]:
    """A list of objects; one object counts as a list of one (the gateway's own answers do the same)."""
    if value is None and not required:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or (required and not value) or not all(isinstance(v, dict) for v in value):
        raise bad(field, "must be a non-empty list of objects." if required else "must be a list of objects.",
                  "必须是对象列表（不能为空）。" if required else "必须是对象列表。")
    return value


def text(d: dict[str, Any], key: str, field: str = "", *, required: bool = True,
         pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> str:
    """A text field; numbers are accepted as written (codes such as insutype 310 arrive as JSON integers)."""
    field = field or key
    value = d.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise bad(field, "is required.", "为必填项。")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad(field, "must be a string.", "必须是字符串。")
    out = str(value).strip()
    if len(out) > MAX_TEXT:
        raise bad(field, f"must be at most {MAX_TEXT} characters.", f"不能超过 {MAX_TEXT} 个字符。")
    if pattern is not None and not pattern.fullmatch(out):
        raise bad(field, "has the wrong format.", "格式不正确。")
    if choices and out not in choices:
        raise bad(field, f"must be one of {', '.join(choices)}.", f"必须是 {'、'.join(choices)} 之一。")
    return out


def strings(d: dict[str, Any], key: str, field: str = "") -> tuple[str, ...]:
    """An optional list of non-empty strings."""
    field = field or key
    value = d.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise bad(field, "must be a list of non-empty strings.", "必须是非空字符串列表。")
    return tuple(v.strip() for v in value)


def money(value: Any, field: str, *, default: str | None = None, positive: bool = False) -> Decimal:
    """A non-negative amount from a string or a JSON number (read through ``str``: 0.1 stays 0.1)."""
    if value is None or value == "":
        if default is None:
            raise bad(field, "is required.", "为必填项。")
        value = default
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise bad(field, "must be a decimal amount.", "必须是金额。") from None
    if not amount.is_finite() or amount < 0 or abs(amount) >= Decimal("1e12") or (positive and amount == 0):
        raise bad(field, "must be a positive amount." if positive else "must not be negative.",
                  "必须大于零。" if positive else "不能为负数。")
    return amount


def day(value: Any, field: str, *, required: bool = True) -> date | None:
    """A date ``YYYY-MM-DD`` (a date-time is cut to its day)."""
    if value is None or value == "":
        if required:
            raise bad(field, "is required.", "为必填项。")
        return None
    if isinstance(value, str) and (_DATE.fullmatch(value.strip()) or _DATETIME.fullmatch(value.strip())):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise bad(field, "must be a date YYYY-MM-DD.", "必须是日期，格式 YYYY-MM-DD。")


def moment(value: Any, field: str, *, required: bool = True) -> datetime | None:
    """A date-time ``YYYY-MM-DD HH:MM[:SS]``."""
    if value is None or value == "":
        if required:
            raise bad(field, "is required.", "为必填项。")
        return None
    if isinstance(value, str) and _DATETIME.fullmatch(value.strip()):
        try:
            return datetime.fromisoformat(value.strip().replace("T", " "))
        except ValueError:
            pass
    raise bad(field, "must be a date-time YYYY-MM-DD HH:MM:SS.", "必须是日期时间，格式 YYYY-MM-DD HH:MM:SS。")


def whole(value: Any, field: str, *, minimum: int = 0, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise bad(field, "is required.", "为必填项。")
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad(field, f"must be a whole number of at least {minimum}.", f"必须是不小于 {minimum} 的整数。")
    return value


def flag(d: dict[str, Any], key: str, field: str = "", *, default: bool | None = None) -> bool | None:
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad(field or key, "must be true or false.", "必须是 true 或 false。")
    return value


def scalar_copy(d: dict[str, Any], keys: tuple[str, ...], field: str) -> dict[str, Any]:
    """The named keys of a gateway record as given (strings, numbers or null); objects and lists are refused so a
    stored answer never carries something a real answer could not."""
    out: dict[str, Any] = {}
    for key in keys:
        value = d.get(key)
        if isinstance(value, (dict, list)):
            raise bad(f"{field}.{key}", "must be a string, a number or null.", "必须是字符串、数字或 null。")
        if isinstance(value, float):
            value = Decimal(str(value))
        if isinstance(value, str) and len(value) > 4000:
            raise bad(f"{field}.{key}", "is too long.", "过长。")
        out[key] = value
    return out
