"""Money on the insurer's wire: the settlement's money fields, reading amounts from answers, writing them out.

The one rounding rule of rxlane — ROUND_HALF_UP to the fen — is defined here, below everything that needs it (the
gateway adapter, the sandbox, devices, and the service's own money module ``plugin/money.py``, which builds on it).
Answers carry money as JSON numbers or strings (``4.52``, ``"4230.00"``, ``0.0``); both are read through ``str()``
into ``Decimal``, never through binary float. Anything unreadable is the gateway's ``GatewayProtocolError``.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from adapters.nhsa.errors import GatewayProtocolError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e12")

#: The money fields of a settlement (2101/2102 ``setlinfo``), in the order the API's split object lists them;
#: ``balc`` is the account balance after the settlement, ``act_pay_dedc`` the deductible applied. Every other list
#: of split fields (the API schema, the sandbox's answers, reports) is derived from this one.
SETL_MONEY = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
              "act_pay_dedc", "hifp_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay", "fund_pay_sumamt",
              "psn_part_amt", "acct_pay", "psn_cash_pay", "balc")
#: The money fields of one line of a split (the insurer's ``detlcutinfo`` names, plus ``line_total``).
LINE_MONEY = ("line_total", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


def fen(value: Decimal) -> Decimal:
    """Round to the fen, half up (the policy documents' rounding: 0.005 → 0.01)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def wire(amount: Decimal | str | int) -> str:
    """Two-decimal string for the wire ("230.00")."""
    return f"{fen(Decimal(str(amount))):.2f}"


def money(value: Any, default: str = "0") -> Decimal:
    """Money or quantity from the wire: number or string → Decimal via str(); empty → ``default``. Anything else
    (a bool, an object, NaN, Infinity, an absurd size) means the answer cannot be trusted: a protocol error."""
    if value is None or value == "":
        return Decimal(default)
    if isinstance(value, (bool, dict, list)):
        raise GatewayProtocolError(f"Not a decimal amount in the insurer's answer: {type(value).__name__}")
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise GatewayProtocolError(f"Not a decimal amount in the insurer's answer: {str(value)[:20]!r}") from None
    if not d.is_finite() or abs(d) >= MAX_AMOUNT:
        raise GatewayProtocolError(f"Not a usable amount in the insurer's answer: {str(value)[:20]!r}")
    return d


def count(value: Any, default: int = 0) -> int:
    """A whole number from the wire (``3``, ``"3"``, ``3.0``); empty → ``default``; anything else is a protocol
    error, never a ValueError escaping the parser."""
    if value is None or value == "":
        return default
    d = money(value)
    if d != d.to_integral_value():
        raise GatewayProtocolError(f"Not a whole number in the insurer's answer: {str(value)[:20]!r}")
    return int(d)
