"""The `catalog` table: the local copy of the insurer's catalogue entries, replaced whole at each sync."""
from __future__ import annotations

from typing import Any

from plugin.store.db import Database, dumps, loads, now


class CatalogTable:
    def __init__(self, db: Database):
        self.db = db

    def replace(self, entries: list[dict[str, Any]]) -> None:
        stamp = now()
        with self.db.transaction(durable=False) as c:
            c.execute("DELETE FROM catalog")
            c.executemany("INSERT INTO catalog VALUES (?,?,?)",
                          [(e["med_list_codg"], dumps(e), stamp) for e in entries])

    def entry(self, code: str) -> dict[str, Any] | None:
        row = self.db.read_one("SELECT entry_json FROM catalog WHERE med_list_codg = ?", (code,))
        return loads(row[0]) if row else None

    def synced_at(self) -> str | None:
        row = self.db.read_one("SELECT max(synced_at) FROM catalog")
        return row[0] if row else None

    def entries(self) -> list[dict[str, Any]]:
        return [loads(r[0]) for r in self.db.read("SELECT entry_json FROM catalog ORDER BY med_list_codg")]
