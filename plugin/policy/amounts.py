"""Reading decimal values (money, quantities, ratios) from TOML and JSON without ever going through float math.

Policy files and quote requests both carry numbers either as strings (``"0.10"``) or as numbers (``0.1``); both
must reach the split as the exact ``Decimal`` a person wrote. A JSON/TOML float is converted through ``str()``
(its shortest round-trip spelling), so ``0.1`` becomes ``Decimal("0.1")``, not ``0.1000000000000000055…``.
Each reader raises ``BadValue`` with the sentence that follows the field name in the caller's error message.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FEN = Decimal("0.01")
MILLI = Decimal("0.001")
ZERO = Decimal("0.00")
ONE = Decimal("1")

#: Upper bounds keep every product far inside Decimal's 28-digit context (no InvalidOperation on quantize).
MAX_MONEY = Decimal("9999999999.99")
MAX_QTY = Decimal("999999.999")

# Plain decimal spelling only: no exponent, no underscores, no whitespace (Decimal() would accept all three).
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class BadValue(ValueError):
    """A value that cannot be used; ``str(err)`` completes the sentence "<field>: …"."""


def fen(value: Decimal) -> Decimal:
    """Round to the fen, half up (policies.md §3: "rounded to 0.01 with ROUND_HALF_UP")."""
    return value.quantize(FEN, ROUND_HALF_UP)


def decimal_of(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise BadValue("must be a number, not a boolean")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(str(value))
    elif isinstance(value, str):
        if not _PLAIN.fullmatch(value):
            raise BadValue(f"must be a decimal number such as \"12.50\" (got {value!r})")
        d = Decimal(value)
    else:
        raise BadValue(f"must be a decimal number given as a string or a number (got {type(value).__name__})")
    if not d.is_finite():
        raise BadValue("must be a finite number")
    return d + 0  # turns -0 into 0 so it never prints as "-0.00"


def money_of(value: Any) -> Decimal:
    """A non-negative amount in yuan with at most two decimals, returned quantized to the fen."""
    d = decimal_of(value)
    if d < 0:
        raise BadValue("must not be negative")
    if d > MAX_MONEY:
        raise BadValue(f"must not exceed {MAX_MONEY}")
    q = d.quantize(FEN)
    if q != d:
        raise BadValue("must have at most 2 decimals (yuan to the fen)")
    return q


def qty_of(value: Any) -> Decimal:
    """A positive quantity with at most three decimals (拆零 sales sell part of a pack, e.g. 0.5)."""
    d = decimal_of(value)
    if d <= 0:
        raise BadValue("must be greater than 0")
    if d > MAX_QTY:
        raise BadValue(f"must not exceed {MAX_QTY}")
    if d.quantize(MILLI) != d:
        raise BadValue("must have at most 3 decimals")
    return d


def ratio_of(value: Any) -> Decimal:
    """A share between 0 and 1 inclusive (先行自付 share, 统筹 ratio, supplementary ratio)."""
    try:
        d = decimal_of(value)
    except BadValue:
        raise BadValue("must be a decimal between 0 and 1") from None
    if not ZERO <= d <= ONE:
        raise BadValue("must be a decimal between 0 and 1")
    return d


def plain(d: Decimal) -> str:
    """A decimal as a plain string (never exponent notation), for JSON and TOML written back out."""
    return format(d, "f")


def wire(d: Decimal) -> str:
    """Money on the wire: exactly two decimals ("230.00")."""
    return f"{fen(d):.2f}"
