"""The `catalog` table: the gateway's own catalogue rows (1312) and price ceilings (1318), keyed by national list
code and updated incrementally (the dual-channel facts come from the imported list, not from here)."""
from __future__ import annotations

from typing import Any

from plugin.store.db import Database, dumps, loads, now


class CatalogTable:
    def __init__(self, db: Database):
        self.db = db

    def upsert(self, rows: list[dict[str, Any]], ceilings: dict[str, str | None]) -> None:
        """Store 1312 rows (each with ``med_list_codg``) and 1318 ceilings by code, keeping what other rows hold."""
        stamp = now()
        with self.db.transaction(durable=False) as c:
            for row in rows:
                old = c.execute("SELECT entry_json FROM catalog WHERE med_list_codg = ?",
                                (row["med_list_codg"],)).fetchone()
                merged = {**(loads(old[0]) if old else {}), **row}
                c.execute("INSERT OR REPLACE INTO catalog VALUES (?,?,?)", (row["med_list_codg"], dumps(merged), stamp))
            for code, ceiling in ceilings.items():
                old = c.execute("SELECT entry_json FROM catalog WHERE med_list_codg = ?", (code,)).fetchone()
                merged = {**(loads(old[0]) if old else {"med_list_codg": code}), "pric_uplmt_amt": ceiling}
                c.execute("INSERT OR REPLACE INTO catalog VALUES (?,?,?)", (code, dumps(merged), stamp))
            if not rows and not ceilings:   # a sync that found nothing new still counts as a sync
                c.execute("UPDATE catalog SET synced_at = ?", (stamp,))

    def entry(self, code: str) -> dict[str, Any] | None:
        row = self.db.read_one("SELECT entry_json FROM catalog WHERE med_list_codg = ?", (code,))
        return loads(row[0]) if row else None

    def synced_at(self) -> str | None:
        row = self.db.read_one("SELECT max(synced_at) FROM catalog")
        return row[0] if row else None

    def latest_update(self) -> str | None:
        """The newest ``updt_time`` among the 1312 rows held: the next sync asks only for rows since then."""
        rows = self.db.read("SELECT entry_json FROM catalog")
        stamps = [str((loads(r[0]) or {}).get("updt_time") or "") for r in rows]
        return max((s for s in stamps if s), default=None)

    def entries(self) -> list[dict[str, Any]]:
        return [loads(r[0]) for r in self.db.read("SELECT entry_json FROM catalog ORDER BY med_list_codg")]
