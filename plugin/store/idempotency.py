"""The `idempotency` table: the first answer to each Idempotency-Key, replayed to a retried request."""
from __future__ import annotations

from plugin.store.db import Database, Row, now

IN_PROGRESS, DONE = "in_progress", "done"


class IdempotencyTable:
    def __init__(self, db: Database):
        self.db = db

    def begin(self, key: str, method: str, path: str, body_hash: str) -> Row | None:
        """Claim the key; return the existing row if it was claimed before (then nothing is written). A claim lost
        in a power cut is harmless: unfinished claims are forgotten at start-up anyway."""
        with self.db.transaction(durable=False) as c:
            row = c.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return row
            c.execute("INSERT INTO idempotency (key, method, path, body_hash, state, created_at) "
                      "VALUES (?,?,?,?,?,?)", (key, method, path, body_hash, IN_PROGRESS, now()))
            return None

    def finish(self, key: str, status: int, response: str) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE idempotency SET state = ?, status = ?, response_json = ? WHERE key = ?",
                      (DONE, status, response, key))

    def forget(self, key: str) -> None:
        with self.db.transaction() as c:
            c.execute("DELETE FROM idempotency WHERE key = ? AND state = ?", (key, IN_PROGRESS))

    def forget_unfinished(self) -> int:
        with self.db.transaction() as c:
            return c.execute("DELETE FROM idempotency WHERE state = ?", (IN_PROGRESS,)).rowcount

    def get(self, key: str) -> Row | None:
        return self.db.read_one("SELECT * FROM idempotency WHERE key = ?", (key,))

    def prune(self, before: str) -> int:
        """Finished records created before ``before`` (a POS retries a request within minutes, not months);
        returns how many were removed."""
        with self.db.transaction(durable=False) as c:
            return c.execute("DELETE FROM idempotency WHERE state = ? AND created_at < ?", (DONE, before)).rowcount
