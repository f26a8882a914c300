"""The insurer's answer as the split object of docs/pos-integration.md, and where it differs from rxlane's own estimate.

The estimate is computed with the same rules as the insurer (plugin/policy); a difference is shown and audited,
never silently corrected (issue: the local estimate checks the insurer).
"""
from __future__ import annotations

from typing import Any

from adapters.nhsa import transactions as tx
from plugin.money import SPLIT_FIELDS, fen, wire


def split_from_answer(output: dict[str, Any], estimate: dict[str, Any]) -> dict[str, Any]:
    """The insurer's setlinfo as the split object of docs/pos-integration.md; lines from its detlcutinfo where it gives them."""
    setl = tx.parse_setlinfo(output)
    split: dict[str, Any] = setl.split()
    by_code = {d.get("med_list_codg"): d for d in setl.lines}
    split["lines"] = []
    for line in estimate.get("lines", []):
        d = by_code.get(line["med_list_codg"], {})
        split["lines"].append({**line, **{k: wire(d[k]) for k in ("fulamt_ownpay_amt", "overlmt_selfpay",
                                                                  "preselfpay_amt", "inscp_scp_amt") if k in d}})
    return split


def compare(insurer: dict[str, Any], estimate: dict[str, Any]) -> list[dict[str, str]]:
    return [{"field": k, "insurer": insurer[k], "estimate": estimate[k]}
            for k in SPLIT_FIELDS if k in estimate and fen(insurer[k]) != fen(estimate[k])]

