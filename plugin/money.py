"""Decimal money helpers: one rounding rule (ROUND_HALF_UP to the fen) and one wire format (two decimals)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FEN = Decimal("0.01")

SPLIT_FIELDS = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
                "act_pay_dedc", "hifp_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay", "fund_pay_sumamt",
                "psn_part_amt", "acct_pay", "psn_cash_pay", "balc")


def fen(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(FEN, rounding=ROUND_HALF_UP)


def wire(value: Any) -> str:
    return f"{fen(value):.2f}"


def invariant_holds(split: dict[str, Any]) -> bool:
    """fund_pay_sumamt + acct_pay + psn_cash_pay == medfee_sumamt, to the fen (policies.md §3)."""
    return fen(split["fund_pay_sumamt"]) + fen(split["acct_pay"]) + fen(split["psn_cash_pay"]) == \
        fen(split["medfee_sumamt"])
