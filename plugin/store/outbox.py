"""The `outbox` table: uploads that follow a settlement (3505/3506, 7204/7206), retried until delivered.

States: ``pending`` (due at ``next_at``), ``done``, ``parked`` (refused for good or out of attempts; shown in health,
never dropped), ``superseded`` (made moot by a refund). A row keeps one msgid for all its attempts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin.store.db import Connection, Database, Row, dumps, loads, now

PENDING, DONE, PARKED, SUPERSEDED = "pending", "done", "parked", "superseded"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    infno: str
    sale_id: str | None
    body: dict[str, Any]
    state: str
    attempts: int
    next_at: str
    last_error: str | None
    msgid: str | None
    created_at: str


def _row(r: Row) -> OutboxRow:
    return OutboxRow(id=r["id"], infno=r["infno"], sale_id=r["sale_id"], body=loads(r["body_json"]) or {},
                     state=r["state"], attempts=r["attempts"], next_at=r["next_at"], last_error=r["last_error"],
                     msgid=r["msgid"], created_at=r["created_at"])


class OutboxTable:
    def __init__(self, db: Database):
        self.db = db

    def enqueue(self, conn: Connection, infno: str, sale_id: str, body: dict[str, Any]) -> None:
        stamp = now()
        conn.execute("INSERT INTO outbox (infno, sale_id, body_json, next_at, created_at) VALUES (?,?,?,?,?)",
                     (infno, sale_id, dumps(body), stamp, stamp))

    def due(self, limit: int) -> list[OutboxRow]:
        return [_row(r) for r in self.db.read(
            "SELECT * FROM outbox WHERE state = ? AND next_at <= ? ORDER BY id LIMIT ?", (PENDING, now(), limit))]

    def state(self, row_id: int) -> str | None:
        row = self.db.read_one("SELECT state FROM outbox WHERE id = ?", (row_id,))
        return row[0] if row else None

    def rows(self, state: str | None = None) -> list[OutboxRow]:
        sql = "SELECT * FROM outbox" + (" WHERE state = ?" if state else "") + " ORDER BY id"
        return [_row(r) for r in self.db.read(sql, (state,) if state else ())]

    def depth(self) -> tuple[int, str | None, int]:
        """(pending rows, oldest pending created_at, parked rows)."""
        row = self.db.read_one("SELECT count(*), min(created_at) FROM outbox WHERE state = ?", (PENDING,))
        parked = self.db.read_one("SELECT count(*) FROM outbox WHERE state = ?", (PARKED,))
        return (row[0] if row else 0), (row[1] if row else None), (parked[0] if parked else 0)

    def make_due(self, row_id: int | None = None) -> int:
        """Parked or waiting rows become due now; returns how many."""
        sql = "UPDATE outbox SET state = ?, next_at = ? WHERE state IN (?, ?)"
        args: tuple = (PENDING, now(), PENDING, PARKED)
        if row_id is not None:
            sql += " AND id = ?"
            args += (row_id,)
        with self.db.transaction() as c:
            return c.execute(sql, args).rowcount

    def attempt(self, conn: Connection, row_id: int, msgid: str) -> None:
        conn.execute("UPDATE outbox SET msgid = ?, attempts = attempts + 1 WHERE id = ?", (msgid, row_id))

    def delivered(self, conn: Connection, row_id: int) -> None:
        conn.execute("UPDATE outbox SET state = ?, done_at = ?, last_error = NULL WHERE id = ?",
                     (DONE, now(), row_id))

    def failed(self, row_id: int, *, state: str, attempts: int, next_at: str, error: str) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
                      (state, attempts, next_at, error[:500], row_id))

    def supersede_dispensing(self, conn: Connection, sale_id: str, reason: str) -> None:
        conn.execute("UPDATE outbox SET state = ?, last_error = ? WHERE sale_id = ? AND infno = '7206' "
                     "AND state IN (?, ?)", (SUPERSEDED, reason, sale_id, PENDING, PARKED))

    def open_dispensing(self, conn: Connection, sale_id: str) -> list[tuple[int, str | None, str | None]]:
        """Open 7206 rows of a sale: (id, msgid, the journal state of its last attempt)."""
        return [(r["id"], r["msgid"], r["sent"]) for r in conn.execute(
            "SELECT o.id, o.msgid, j.state AS sent FROM outbox o LEFT JOIN journal j ON j.msgid = o.msgid "
            "WHERE o.sale_id = ? AND o.infno = '7206' AND o.state IN (?, ?)", (sale_id, PENDING, PARKED)).fetchall()]

    def supersede(self, conn: Connection, row_ids: list[int], reason: str) -> None:
        conn.executemany("UPDATE outbox SET state = ?, last_error = ? WHERE id = ?",
                         [(SUPERSEDED, reason, i) for i in row_ids])
