"""The `upload_facts` table: what the uploads of a sale need beyond the sale itself (docs/reconciliation.md).

Row ``line_no`` 0 is the sale's: who was on duty when it was settled (``pharmacist``, ``checker``: the staff
records of the counter's duty at that moment, so a later change of duty never rewrites who sold it) and anything
the pharmacist supplied for the sale later (``prescriber_name``). Rows ``line_no`` ≥ 1 hold what was supplied for
a line after the sale (``lot``, ``manu_date``, ``expy_end``) when neither the pack nor the POS nor the stock had it.
"""
from __future__ import annotations

from typing import Any

from plugin.store.db import Connection, Database, dumps, loads, now


class UploadFactsTable:
    def __init__(self, db: Database):
        self.db = db

    def of_sale(self, sale_id: str, conn: Connection | None = None) -> dict[int, dict[str, Any]]:
        """``{line_no: facts}`` (0 = the sale's own)."""
        sql, args = "SELECT line_no, facts_json FROM upload_facts WHERE sale_id = ?", (sale_id,)
        rows = conn.execute(sql, args).fetchall() if conn is not None else self.db.read(sql, args)
        return {r["line_no"]: loads(r["facts_json"]) or {} for r in rows}

    def merge(self, conn: Connection, sale_id: str, line_no: int, facts: dict[str, Any]) -> dict[str, Any]:
        """Add ``facts`` to the row (a key given replaces the one kept); returns the row's facts after."""
        row = conn.execute("SELECT facts_json FROM upload_facts WHERE sale_id = ? AND line_no = ?",
                           (sale_id, line_no)).fetchone()
        merged = {**((loads(row[0]) or {}) if row else {}), **facts}
        conn.execute("INSERT INTO upload_facts (sale_id, line_no, facts_json, updated_at) VALUES (?,?,?,?) "
                     "ON CONFLICT (sale_id, line_no) DO UPDATE SET facts_json = excluded.facts_json, "
                     "updated_at = excluded.updated_at", (sale_id, line_no, dumps(merged), now()))
        return merged
