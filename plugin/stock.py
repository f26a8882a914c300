"""The store's batches of each drug (lot, production and expiry dates, the pharmacy's batch serial): the last source
of a sold pack's batch when neither its code nor the POS gives it (docs/reconciliation.md). ``rxlane stock`` and
``/v1/stock`` keep them; every change is in the audit trail."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from plugin.errors import NotFound
from plugin.store import Ledger


def listing(ledger: Ledger, include_retired: bool = False) -> list[dict[str, Any]]:
    return [asdict(e) for e in ledger.stock.listing(include_retired)]


def add(ledger: Ledger, *, med_list_codg: str, lot: str, manu_date: str, expy_end: str, bchno: str = "",
        prdr_name: str = "") -> dict[str, Any]:
    with ledger.transaction() as c:
        entry_id = ledger.stock.add(c, med_list_codg=med_list_codg, lot=lot, manu_date=manu_date, expy_end=expy_end,
                                    bchno=bchno, prdr_name=prdr_name)
        ledger.audit.append("stock_added", None, {"id": entry_id, "med_list_codg": med_list_codg, "lot": lot}, conn=c)
    return next(e for e in listing(ledger, True) if e["id"] == entry_id)


def retire(ledger: Ledger, entry_id: int) -> None:
    """The batch is off the shelf (sold out, withdrawn): it no longer stands for the drug's packs."""
    if not 0 < entry_id < 2 ** 63:      # SQLite's integers: anything else names no entry
        raise NotFound("stock entry", id=str(entry_id)[:20])
    with ledger.transaction() as c:
        if not ledger.stock.retire(c, entry_id):
            raise NotFound("stock entry", id=entry_id)
        ledger.audit.append("stock_retired", None, {"id": entry_id}, conn=c)
