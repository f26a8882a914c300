"""The `outbox` table: uploads that follow a sale (3505/3505A/3506, 7204/7206), kept until delivered.

States: ``pending`` (due at ``next_at``), ``waiting`` (the insurer's required fields are missing: it waits for the
pharmacist to supply them, never sent blind), ``done``, ``parked`` (refused by the insurer, or out of attempts;
shown in health and by ``rxlane outbox``, never dropped), ``superseded`` (made moot, e.g. by a refund before it
left). ``reason`` says why a row waits or was parked (an error code of plugin/errors.py). Rows of one sale run in
order within their ``chain`` (``goods``: 3505 before 3506; ``rx``: 7204 before 7206): a row is not due while an
earlier row of its chain is unfinished. A row keeps its msgid while its outcome is unknown (a resend is then the
same message) and takes a new one after a refusal.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from plugin.store.db import Connection, Database, Row, dumps, loads, now

PENDING, DONE, PARKED, SUPERSEDED, WAITING = "pending", "done", "parked", "superseded", "waiting"
UNFINISHED = (PENDING, PARKED, WAITING)
#: the reason of an upload the insurer refused (plugin/errors.py); health names these first
REFUSED_REASON = "UPLOAD_REFUSED"


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
    chain: str = ""
    reason: str | None = None
    done_at: str | None = None


def _row(r: Row) -> OutboxRow:
    return OutboxRow(id=r["id"], infno=r["infno"], sale_id=r["sale_id"], body=loads(r["body_json"]) or {},
                     state=r["state"], attempts=r["attempts"], next_at=r["next_at"], last_error=r["last_error"],
                     msgid=r["msgid"], created_at=r["created_at"], chain=r["chain"], reason=r["reason"],
                     done_at=r["done_at"])


class OutboxTable:
    def __init__(self, db: Database):
        self.db = db
        self._json_functions: bool | None = None    # does this SQLite have json_object/json_extract?

    # -- adding ---------------------------------------------------------------------------------------------------
    def enqueue(self, conn: Connection, infno: str, sale_id: str, body: dict[str, Any], *, chain: str = "",
                state: str = PENDING, reason: str | None = None) -> int:
        stamp = now()
        cur = conn.execute("INSERT INTO outbox (infno, sale_id, body_json, state, next_at, created_at, chain, reason) "
                           "VALUES (?,?,?,?,?,?,?,?)",
                           (infno, sale_id, dumps(body), state, stamp, stamp, chain, reason))
        return int(cur.lastrowid or 0)

    def replace(self, conn: Connection, row_id: int, rows: list[tuple[str, dict[str, Any], str, str | None]]) -> bool:
        """A pending row gives way to ``rows`` (infno, body, state, reason) of its sale and chain — a plan becomes
        the messages it stands for. False (and nothing written) when the row is no longer pending."""
        old = conn.execute("SELECT sale_id, chain FROM outbox WHERE id = ? AND state = ?", (row_id, PENDING)).fetchone()
        if old is None:
            return False
        if not rows:
            conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            return True
        (infno, body, state, reason), *rest = rows
        # the first message takes the plan's place (its id and its turn in the chain); ids are never reused
        conn.execute("UPDATE outbox SET infno = ?, body_json = ?, state = ?, reason = ?, next_at = ? WHERE id = ?",
                     (infno, dumps(body), state, reason, now(), row_id))
        for infno, body, state, reason in rest:
            self.enqueue(conn, infno, old["sale_id"], body, chain=old["chain"], state=state, reason=reason)
        return True

    # -- reading --------------------------------------------------------------------------------------------------
    def due(self, limit: int) -> list[OutboxRow]:
        """Pending rows due now whose chain has no earlier unfinished row, oldest first."""
        return [_row(r) for r in self.db.read(
            "SELECT * FROM outbox o WHERE o.state = ? AND o.next_at <= ? AND NOT EXISTS ("
            " SELECT 1 FROM outbox p WHERE p.sale_id = o.sale_id AND p.chain = o.chain AND p.chain != '' "
            " AND p.id < o.id AND p.state IN (?, ?, ?)) ORDER BY o.id LIMIT ?",
            (PENDING, now(), *UNFINISHED, limit))]

    def get(self, row_id: int) -> OutboxRow | None:
        row = self.db.read_one("SELECT * FROM outbox WHERE id = ?", (row_id,))
        return _row(row) if row else None

    def state(self, row_id: int) -> str | None:
        row = self.db.read_one("SELECT state FROM outbox WHERE id = ?", (row_id,))
        return row[0] if row else None

    def rows(self, state: str | None = None, *, unfinished: bool = False, limit: int = 10000) -> list[OutboxRow]:
        args: tuple[str, ...]
        if unfinished:
            where, args = "WHERE state IN (?, ?, ?)", UNFINISHED
        elif state:
            where, args = "WHERE state = ?", (state,)
        else:
            where, args = "", ()
        return [_row(r) for r in self.db.read(f"SELECT * FROM outbox {where} ORDER BY id LIMIT ?", (*args, limit))]

    def problems(self, limit: int) -> list[OutboxRow]:
        """Parked and waiting rows, the insurer's refusals first, then newest first: at most ``limit``, read from the
        partial index of migration 11 (which holds only such rows), so the answer costs the same with a million
        delivered rows or a hundred thousand waiting ones. The index needs literals, not parameters: they are these
        constants, written into migration 11 as they were then."""
        return [_row(r) for r in self.db.read(
            f"SELECT * FROM outbox INDEXED BY outbox_problems WHERE state IN ('{PARKED}', '{WAITING}') "
            f"ORDER BY reason IS NOT '{REFUSED_REASON}', id DESC LIMIT ?", (limit,))]

    def for_sale(self, sale_id: str, conn: Connection | None = None) -> list[OutboxRow]:
        sql, args = "SELECT * FROM outbox WHERE sale_id = ? ORDER BY id", (sale_id,)
        rows = conn.execute(sql, args).fetchall() if conn is not None else self.db.read(sql, args)
        return [_row(r) for r in rows]

    def shown_for_sale(self, sale_id: str) -> list[OutboxRow]:
        """A sale's rows as its view shows them: the body cut to what the view reads (``plan``, ``missing``,
        ``codes``) by SQLite's JSON functions, so a view does not decode every message it lists. An SQLite built
        without them (JSON is built in since 3.38, optional before) gets the whole rows."""
        if self._json_functions is None:
            try:
                self.db.read_one("SELECT json_object('a', json_extract('{\"a\": 1}', '$.a'))")
                self._json_functions = True
            except sqlite3.OperationalError:
                self._json_functions = False
        if not self._json_functions:
            return self.for_sale(sale_id)
        rows = self.db.read(
            "SELECT id, infno, sale_id, json_object('plan', json_extract(body_json, '$.plan'), 'missing', "
            "json_extract(body_json, '$.missing'), 'codes', json_extract(body_json, '$.codes')) AS body_json, state, "
            "attempts, next_at, last_error, msgid, created_at, chain, reason, done_at FROM outbox WHERE sale_id = ? "
            "ORDER BY id", (sale_id,))
        shown = [_row(r) for r in rows]
        for row in shown:   # a key the message does not have comes back null: absent, as in the full body
            for key in [k for k, v in row.body.items() if v is None]:
                del row.body[key]
        return shown

    def depth(self) -> tuple[int, str | None, int, int]:
        """(pending rows, oldest pending created_at, parked rows, waiting rows)."""
        # counted from the state index alone; only pending rows (few but in an outage) are read for their age —
        # a hundred thousand rows waiting for details would otherwise be read on every health answer
        counts = {r[0]: r[1] for r in self.db.read(
            "SELECT state, count(*) FROM outbox WHERE state IN (?, ?, ?) GROUP BY state", UNFINISHED)}
        oldest = self.db.read("SELECT min(created_at) FROM outbox WHERE state = ?", (PENDING,))[0][0] \
            if counts.get(PENDING) else None
        return counts.get(PENDING, 0), oldest, counts.get(PARKED, 0), counts.get(WAITING, 0)

    def open_in_chain(self, conn: Connection, sale_id: str, chain: str) -> list[tuple[OutboxRow, str | None]]:
        """Unfinished and done rows of a sale's chain with the journal state of their last attempt."""
        return [(_row(r), r["sent"]) for r in conn.execute(
            "SELECT o.*, j.state AS sent FROM outbox o LEFT JOIN journal j ON j.msgid = o.msgid "
            "WHERE o.sale_id = ? AND o.chain = ? AND o.state != ? ORDER BY o.id",
            (sale_id, chain, SUPERSEDED)).fetchall()]

    # -- sending --------------------------------------------------------------------------------------------------
    def attempt(self, conn: Connection, row_id: int, msgid: str, expected: str | None) -> bool:
        """Record an attempt under ``msgid`` in the journal's transaction, if the row is still pending under the
        msgid the sender read (``expected``). False — the caller must not send — when it was superseded meanwhile
        or another process took it under a new msgid."""
        return conn.execute("UPDATE outbox SET msgid = ?, attempts = attempts + 1 WHERE id = ? AND state = ? "
                            "AND msgid IS ?", (msgid, row_id, PENDING, expected)).rowcount == 1

    def wait(self, conn: Connection, row_id: int, body: dict[str, Any], error: str, reason: str) -> None:
        """A pending row waits (for details): its body names what is missing."""
        conn.execute("UPDATE outbox SET state = ?, body_json = ?, last_error = ?, reason = ? "
                     "WHERE id = ? AND state = ?",
                     (WAITING, dumps(body), error[:500], reason, row_id, PENDING))

    def delivered(self, conn: Connection, row_id: int) -> None:
        conn.execute("UPDATE outbox SET state = ?, done_at = ?, last_error = NULL, reason = NULL WHERE id = ?",
                     (DONE, now(), row_id))

    def failed(self, row_id: int, *, state: str, attempts: int, next_at: str, error: str, reason: str | None = None,
               keep_msgid: bool = True, conn: Connection | None = None) -> None:
        """After a failed attempt: retry at ``next_at`` (pending) or park. ``keep_msgid`` False after a refusal:
        nothing was accepted, so the next attempt is a new message."""
        msgid_sql = "" if keep_msgid else ", msgid = NULL"
        with self.db.writing(conn) as c:
            c.execute(f"UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ?, reason = ?{msgid_sql} "
                      "WHERE id = ? AND state = ?", (state, attempts, next_at, error[:500], reason, row_id, PENDING))

    # -- changing course ------------------------------------------------------------------------------------------
    def make_due(self, row_id: int | None = None) -> int:
        """Parked or waiting-on-time rows become due now (``rxlane outbox --retry``); returns how many. Rows waiting
        for details are not: they need the details."""
        sql = "UPDATE outbox SET state = ?, next_at = ? WHERE state IN (?, ?)"
        args: tuple = (PENDING, now(), PENDING, PARKED)
        if row_id is not None:
            sql += " AND id = ?"
            args += (row_id,)
        with self.db.transaction() as c:
            return c.execute(sql, args).rowcount

    def resume(self, conn: Connection, row_ids: list[int], body: dict[str, Any] | None = None) -> None:
        """Waiting or parked rows become pending again now (details were supplied), with a new ``body`` if given."""
        for row_id in row_ids:
            if body is None:
                conn.execute("UPDATE outbox SET state = ?, next_at = ?, reason = NULL, last_error = NULL, msgid = NULL "
                             "WHERE id = ?", (PENDING, now(), row_id))
            else:
                conn.execute("UPDATE outbox SET state = ?, next_at = ?, reason = NULL, last_error = NULL, "
                             "msgid = NULL, body_json = ? WHERE id = ?", (PENDING, now(), dumps(body), row_id))

    def supersede(self, conn: Connection, row_ids: list[int], reason: str) -> None:
        conn.executemany("UPDATE outbox SET state = ?, last_error = ? WHERE id = ? AND state IN (?, ?, ?)",
                         [(SUPERSEDED, reason, i, *UNFINISHED) for i in row_ids])

    # -- retention ------------------------------------------------------------------------------------------------
    def prune_finished(self, before: str) -> int:
        """Delivered and superseded rows finished before ``before`` (their journal rows stay); returns how many."""
        with self.db.transaction(durable=False) as c:
            return c.execute("DELETE FROM outbox WHERE state IN (?, ?) AND coalesce(done_at, created_at) < ?",
                             (DONE, SUPERSEDED, before)).rowcount
