"""The `stock` table: the store's batches of a drug (lot, production date, expiry, the pharmacy's own batch serial,
the manufacturer).

The last source of a sold pack's batch (docs/reconciliation.md, "Where each field comes from"): a pack whose code
carries no lot (the 20-digit domestic code) and whose POS line gave none is taken from the drug's batch on the shelf
— the entry not retired and not expired on the day of the sale, and only when it is the drug's only such batch
(two open lots are a question for the pharmacist, never a guess).
"""
from __future__ import annotations

from dataclasses import dataclass

from plugin.store.db import Connection, Database, Row, now


@dataclass(frozen=True)
class StockEntry:
    id: int
    med_list_codg: str
    lot: str
    manu_date: str
    expy_end: str
    bchno: str
    prdr_name: str
    created_at: str
    retired_at: str | None


def _entry(r: Row) -> StockEntry:
    return StockEntry(id=r["id"], med_list_codg=r["med_list_codg"], lot=r["lot"], manu_date=r["manu_date"],
                      expy_end=r["expy_end"], bchno=r["bchno"], prdr_name=r["prdr_name"], created_at=r["created_at"],
                      retired_at=r["retired_at"])


class StockTable:
    def __init__(self, db: Database):
        self.db = db

    def add(self, conn: Connection, *, med_list_codg: str, lot: str, manu_date: str, expy_end: str,
            bchno: str = "", prdr_name: str = "") -> int:
        cur = conn.execute("INSERT INTO stock (med_list_codg, lot, manu_date, expy_end, bchno, prdr_name, created_at) "
                           "VALUES (?,?,?,?,?,?,?)", (med_list_codg, lot, manu_date, expy_end, bchno, prdr_name, now()))
        return int(cur.lastrowid or 0)

    def retire(self, conn: Connection, entry_id: int) -> bool:
        return conn.execute("UPDATE stock SET retired_at = ? WHERE id = ? AND retired_at IS NULL",
                            (now(), entry_id)).rowcount == 1

    def for_drug(self, med_list_codg: str) -> list[StockEntry]:
        """Every entry of the drug, retired ones too (a sold pack's lot may name a batch retired since)."""
        return [_entry(r) for r in self.db.read("SELECT * FROM stock WHERE med_list_codg = ? ORDER BY id DESC",
                                                (med_list_codg,))]

    def listing(self, include_retired: bool = False) -> list[StockEntry]:
        sql = "SELECT * FROM stock" + ("" if include_retired else " WHERE retired_at IS NULL") + " ORDER BY id"
        return [_entry(r) for r in self.db.read(sql)]
