"""Money in the service: reading decimal values without ever going through float math, and one rounding rule.

Policy files, quote requests, the POS API and the ledger carry numbers either as strings (``"0.10"``) or as numbers
(``0.1``); both must reach the split as the exact ``Decimal`` a person wrote. A JSON/TOML float is converted through
``str()`` (its shortest round-trip spelling), so ``0.1`` becomes ``Decimal("0.1")``, not ``0.1000000000000000055…``.
Rounding is ROUND_HALF_UP to the fen everywhere (docs/docs/policies.md §3), the rule of ``adapters/nhsa/money.py``, the
wire's money module, on which this one builds. Each reader raises ``BadValue`` with the sentence that follows the
field name in the caller's error message.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from adapters.nhsa.money import CENT as FEN
from adapters.nhsa.money import SETL_MONEY
from adapters.nhsa.money import fen as _fen

#: The split object's money fields (the insurer's setlinfo names; defined once in adapters/nhsa/money.py).
SPLIT_FIELDS = SETL_MONEY
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


def wire(value: Any) -> str:
    """Money as the API and the ledger write it: exactly two decimals, half up ("230.00"). Takes a Decimal or a
    decimal string (a ledger TEXT column)."""
    return f"{fen(value):.2f}"


def fen(value: Any) -> Decimal:
    """An amount (Decimal, decimal string such as a ledger TEXT column, int) rounded half up to the fen."""
    return _fen(value if isinstance(value, Decimal) else Decimal(str(value)))
