"""The `audit` table: append-only (triggers refuse UPDATE and DELETE) and hash-chained so tampering shows."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from plugin.store.db import Connection, Database, dumps, loads, now

GENESIS = "0" * 64


def _digest(prev_hash: str, at: str, kind: str, sale_id: str | None, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}|{at}|{kind}|{sale_id or ''}|{body}".encode()).hexdigest()


class AuditTrail:
    def __init__(self, db: Database):
        self.db = db

    def append(self, kind: str, sale_id: str | None, detail: dict[str, Any], conn: Connection | None = None) -> None:
        with self.db.writing(conn) as c:
            prev = c.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = prev[0] if prev else GENESIS
            at, body = now(), dumps(detail)
            c.execute("INSERT INTO audit (at, kind, sale_id, detail_json, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                      (at, kind, sale_id, body, prev_hash, _digest(prev_hash, at, kind, sale_id, body)))

    def verify(self) -> tuple[bool, int, int | None]:
        """(ok, rows checked, first bad row id)."""
        prev_hash = GENESIS
        rows = self.db.read("SELECT * FROM audit ORDER BY id")
        for row in rows:
            expect = _digest(prev_hash, row["at"], row["kind"], row["sale_id"], row["detail_json"])
            if row["prev_hash"] != prev_hash or row["hash"] != expect:
                return False, len(rows), row["id"]
            prev_hash = row["hash"]
        return True, len(rows), None

    def recent(self, kind: str, limit: int) -> list[tuple[datetime, dict[str, Any]]]:
        """The latest ``limit`` entries of ``kind``, newest written first (by row order, not by their stamps,
        which follow the PC's clock), as (at, detail)."""
        rows = self.db.read("SELECT at, detail_json FROM audit WHERE kind = ? ORDER BY id DESC LIMIT ?",
                            (kind, limit))
        return [(datetime.fromisoformat(r["at"]), loads(r["detail_json"]) or {}) for r in rows]

    def last_at(self, kind: str) -> datetime | None:
        """When an entry of ``kind`` was last written (the reconciliation schedule reads its own record here)."""
        row = self.db.read_one("SELECT max(at) FROM audit WHERE kind = ?", (kind,))
        return datetime.fromisoformat(row[0]) if row and row[0] else None
