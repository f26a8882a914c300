"""Money at the service's edges: values arrive as ledger TEXT, insurer strings or numbers; one rounding rule
(ROUND_HALF_UP to the fen, plugin/policy/amounts.py) and one wire format (two decimals) for all of them."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from plugin.policy import amounts
from plugin.policy.model import SPLIT_FIELDS

__all__ = ["SPLIT_FIELDS", "fen", "wire"]


def fen(value: Any) -> Decimal:
    return amounts.fen(Decimal(str(value)))


def wire(value: Any) -> str:
    return amounts.wire(Decimal(str(value)))
