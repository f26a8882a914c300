"""The `idempotency` table: the first answer to each (caller, Idempotency-Key), replayed to a retried request.

A claim is written before the request runs (``in_progress``) and finished with the answer (``done``). A claim left
``in_progress`` by a process that died — or whose answer could not be written — is taken over by the retry
(plugin/api/idempotency.py decides what it answers). ``link_claim`` records, inside the very transaction that
creates it, what the claimed request created (a sale id), so that retry can answer with it.
"""
from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta

from plugin.store.db import Connection, Database, Row, now

IN_PROGRESS, DONE = "in_progress", "done"

#: (caller, key) of the claimed request running in this context, for ``link_claim``.
CURRENT_CLAIM: ContextVar[tuple[str, str] | None] = ContextVar("rxlane_idempotency_claim", default=None)


def link_claim(conn: Connection, resource: str) -> None:
    """Note ``resource`` on the current request's claim, in the caller's transaction (nothing when unclaimed)."""
    claim = CURRENT_CLAIM.get()
    if claim is not None:
        conn.execute("UPDATE idempotency SET resource = ? WHERE caller = ? AND key = ? AND state = ?",
                     (resource, claim[0], claim[1], IN_PROGRESS))


class IdempotencyTable:
    def __init__(self, db: Database):
        self.db = db

    def begin(self, caller: str, key: str, method: str, path: str, body_hash: str,
              ttl: timedelta | None = None) -> Row | None:
        """Claim the key; return the existing row if it was claimed before (then nothing is written). A row older
        than ``ttl`` has expired: it is replaced by this claim. A claim lost in a power cut is harmless: the
        retry simply runs again."""
        with self.db.transaction(durable=False) as c:
            row = c.execute("SELECT * FROM idempotency WHERE caller = ? AND key = ?", (caller, key)).fetchone()
            if row is not None and not _expired(row, ttl):
                return row
            c.execute("DELETE FROM idempotency WHERE caller = ? AND key = ?", (caller, key))
            c.execute("INSERT INTO idempotency (caller, key, method, path, body_hash, state, created_at) "
                      "VALUES (?,?,?,?,?,?,?)", (caller, key, method, path, body_hash, IN_PROGRESS, now()))
            return None

    def finish(self, caller: str, key: str, status: int, response: str) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE idempotency SET state = ?, status = ?, response_json = ? WHERE caller = ? AND key = ?",
                      (DONE, status, response, caller, key))

    def forget(self, caller: str, key: str) -> None:
        with self.db.transaction() as c:
            c.execute("DELETE FROM idempotency WHERE caller = ? AND key = ? AND state = ?", (caller, key, IN_PROGRESS))

    def expire(self, ttl: timedelta, batch: int = 1000) -> int:
        """Drop finished answers older than ``ttl`` (a few at a time; the recovery loop calls it each round)."""
        cutoff = (datetime.now() - ttl).isoformat(sep=" ", timespec="seconds")
        with self.db.transaction(durable=False) as c:
            return c.execute("DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE "
                             "created_at < ? AND state = ? LIMIT ?)", (cutoff, DONE, batch)).rowcount

    def get(self, caller: str, key: str) -> Row | None:
        return self.db.read_one("SELECT * FROM idempotency WHERE caller = ? AND key = ?", (caller, key))


def _expired(row: Row, ttl: timedelta | None) -> bool:
    if ttl is None:
        return False
    try:
        created = datetime.fromisoformat(row["created_at"])
    except ValueError:
        return True
    age = datetime.now() - created
    # a claim "from the future" (the clock was set back since) is judged by its absolute age, so a clock jump can
    # neither keep a key for ever nor expire one early by more than the jump
    return abs(age) > ttl
