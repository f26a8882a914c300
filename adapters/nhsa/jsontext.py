"""JSON text with exact decimals: ``Decimal`` values are written as JSON numbers from their own digits
(``Decimal("230.00")`` → ``230.00``), never through a binary float. Used for what goes on the wire and for the text
the 国密 signature covers, so both agree byte for byte."""
from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any


def dumps(value: Any, *, sort_keys: bool = False, compact: bool = False) -> str:
    numbers: list[str] = []
    tag = secrets.token_hex(4)   # markers no text of the message can imitate

    def mark(v: Any) -> Any:
        if isinstance(v, Decimal):
            numbers.append(format(v, "f"))
            return f"\x00{tag}{len(numbers) - 1}\x00"
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(value), ensure_ascii=False, sort_keys=sort_keys,
                      separators=(",", ":") if compact else None)
    if numbers:
        text = re.sub(rf'"\\u0000{tag}(\d+)\\u0000"', lambda m: numbers[int(m.group(1))], text)
    return text


def money_as_strings(value: Any) -> Any:
    """The same structure with every Decimal written as its exact decimal string ("230.00")."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: money_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [money_as_strings(v) for v in value]
    return value
