"""The `tokens` table: per-terminal API tokens, of which only the SHA-256 is kept."""
from __future__ import annotations

from typing import Any

from plugin.store.db import Connection, Database, Row, now


class TokensTable:
    def __init__(self, db: Database):
        self.db = db

    def insert(self, conn: Connection, terminal: str, scopes: str, digest: str) -> int:
        cur = conn.execute("INSERT INTO tokens (terminal, scopes, hash, created_at) VALUES (?,?,?,?)",
                           (terminal, scopes, digest, now()))
        return int(cur.lastrowid or 0)

    def active(self, digest: str) -> Row | None:
        return self.db.read_one("SELECT id, terminal, scopes, hash FROM tokens WHERE hash = ? AND revoked_at IS NULL",
                                (digest,))

    def listing(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.read(
            "SELECT id, terminal, scopes, created_at, revoked_at FROM tokens ORDER BY id")]

    def revoke(self, conn: Connection, token_id: int) -> bool:
        return conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                            (now(), token_id)).rowcount == 1
