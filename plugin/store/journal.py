"""The `journal` table: every insurer message that moves money or reports, committed before it leaves.

A row is written in state ``sent`` before the message goes out, and answered once: ``answered`` (infcode 0),
``refused`` (the insurer said no), ``unsent`` (it never left), ``unknown`` (it left and no usable answer came) or
``reversed`` (a 2601 undid it). Bodies are kept compressed (db.pack) for disputes; ``msgid`` is the key of 2601 and
of the insurer's reconciliation files.
"""
from __future__ import annotations

from typing import Any

from plugin.store.db import Connection, Database, Row, now, pack, unpack

SENT, ANSWERED, REFUSED, UNSENT, UNKNOWN, REVERSED = "sent", "answered", "refused", "unsent", "unknown", "reversed"
#: What a pruned message's body becomes (the day it was pruned is in the audit trail's retention entry).
PRUNED = pack({"pruned": True})


class Journal:
    def __init__(self, db: Database):
        self.db = db

    def request(self, msgid: str, infno: str, body: dict[str, Any], sale_id: str | None,
                conn: Connection | None = None, *, retry: bool = False) -> None:
        """`retry`: an outbox message sent again under its msgid keeps its first journal row."""
        with self.db.writing(conn) as c:
            c.execute(f"INSERT {'OR IGNORE ' if retry else ''}INTO journal (msgid, infno, sale_id, body_json, state, "
                      "created_at) VALUES (?,?,?,?,?,?)", (msgid, infno, sale_id, pack(body), SENT, now()))

    def answer(self, msgid: str, state: str, *, answer: dict[str, Any] | None = None, infcode: int | None = None,
               err_msg: str | None = None, conn: Connection | None = None, durable: bool = True) -> None:
        with self.db.writing(conn, durable) as c:
            c.execute("UPDATE journal SET state = ?, answer_json = ?, infcode = ?, err_msg = ?, answered_at = ? "
                      "WHERE msgid = ?",
                      (state, pack(answer) if answer is not None else None, infcode, err_msg, now(), msgid))

    def entry(self, msgid: str) -> Row | None:
        return self.db.read_one("SELECT * FROM journal WHERE msgid = ?", (msgid,))

    def message(self, msgid: str) -> dict[str, Any] | None:
        """A journaled message with its request and answer bodies, for support and disputes."""
        row = self.entry(msgid)
        if row is None:
            return None
        return {**{k: row[k] for k in row.keys() if k not in ("body_json", "answer_json")},
                "body": unpack(row["body_json"]), "answer": unpack(row["answer_json"])}

    def for_sale(self, sale_id: str) -> list[dict[str, Any]]:
        rows = self.db.read("SELECT msgid, infno, state, infcode, err_msg, created_at, answered_at FROM journal "
                            "WHERE sale_id = ? ORDER BY created_at, msgid", (sale_id,))
        return [dict(r) for r in rows]

    def latest(self, sale_id: str, infno: str) -> str | None:
        """The newest message of ``infno`` for a sale (the 2103 a refund in doubt sent)."""
        row = self.db.read_one("SELECT msgid FROM journal WHERE sale_id = ? AND infno = ? "
                               "ORDER BY created_at DESC, msgid DESC LIMIT 1", (sale_id, infno))
        return row["msgid"] if row else None

    def state_of(self, conn: Connection, msgid: str) -> str | None:
        row = conn.execute("SELECT state FROM journal WHERE msgid = ?", (msgid,)).fetchone()
        return row[0] if row else None

    def newest_msgid(self) -> str | None:
        row = self.db.read_one("SELECT max(msgid) FROM journal")
        return row[0] if row else None

    def mark_interrupted(self, conn: Connection, infnos: tuple[str, ...],
                         flying: frozenset[str] = frozenset()) -> int:
        """Messages a crash (or a failed write) left ``sent`` with no answer recorded are ``unknown``: they may
        have reached the insurer. Those still ``flying`` in this process are left alone. Returns how many."""
        marks = ",".join("?" * len(infnos))
        rows = conn.execute(f"SELECT msgid FROM journal WHERE state = ? AND infno IN ({marks})",
                            (SENT, *infnos)).fetchall()
        stale = [r[0] for r in rows if r[0] not in flying]
        conn.executemany("UPDATE journal SET state = ?, err_msg = coalesce(err_msg, ?) WHERE msgid = ? AND state = ?",
                         [(UNKNOWN, "no outcome recorded (process ended or the ledger could not be written)", m,
                           SENT) for m in stale])
        return len(stale)

    def count_by_result(self) -> list[tuple[str, str, int]]:
        return [(r[0], r[1], r[2]) for r in self.db.read(
            "SELECT infno, state, count(*) FROM journal GROUP BY infno, state ORDER BY infno, state")]

    def refusals_between(self, start: str, end: str) -> list[dict[str, Any]]:
        """Refused messages created in [start, end), grouped by infno and the insurer's text."""
        return [dict(r) for r in self.db.read(
            "SELECT infno, coalesce(err_msg, '') AS err_msg, count(*) AS n FROM journal "
            "WHERE state = ? AND created_at >= ? AND created_at < ? GROUP BY infno, coalesce(err_msg, '')",
            (REFUSED, start, end))]

    def prune_bodies(self, before: str, limit: int = 5000) -> int:
        """Drop the request and answer bodies of messages created before ``before`` — financial records kept their
        legal period — keeping the row (msgid, infno, sale, state, infcode, err_msg, times). At most ``limit`` rows
        per call, so a first run on an old ledger never holds the lock for long; returns how many."""
        with self.db.transaction(durable=False) as c:
            return c.execute(
                "UPDATE journal SET body_json = ?, answer_json = NULL WHERE msgid IN ("
                " SELECT msgid FROM journal WHERE created_at < ? AND body_json != ? LIMIT ?)",
                (PRUNED, before, PRUNED, limit)).rowcount
