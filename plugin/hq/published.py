"""The dual-channel list HQ publishes to its stores (`rxlane hq publish-list FILE`, `GET /v1/hq/catalog`).

HQ validates the province's file with the same parser a store's `rxlane catalog import` uses (plugin/dclist) and
keeps the normalised document. Its sha256 is the list's version: every heartbeat answer names the current one, a
store whose installed version differs downloads the document, checks the hash, and installs it all-or-nothing.
Publishing the same document again changes nothing; the newest published list is the current one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from plugin.errors import NotFound
from plugin.dclist import Imported
from plugin.dclist.document import sha256
from plugin.hq.db import Database
from plugin.hq.schema import lists


@dataclass(frozen=True)
class Head:
    """What a heartbeat answer says about the current list (no document)."""

    version: str
    rows: int
    source: str
    publication_date: str | None
    published_at: float

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "rows": self.rows, "source": self.source,
                "publication_date": self.publication_date, "published_at": self.published_at,
                "url": "/v1/hq/catalog"}


def publish(db: Database, imported: Imported, now: float | None = None) -> Head:
    """Make a validated list the current one (idempotent by its document's hash)."""
    digest = sha256(imported.document)
    meta = imported.list.meta
    published = meta.publication_date.isoformat() if meta and meta.publication_date else None
    with db.begin() as conn:
        known = conn.execute(sa.select(lists.c.id).where(lists.c.sha256 == digest)).first()
        if known is None:
            conn.execute(sa.insert(lists).values(
                published_at=time.time() if now is None else now, sha256=digest,
                source=(meta.source if meta else "")[:400], publication_date=published,
                region=(meta.region if meta else "")[:32], rows=len(imported.list),
                original_name=(meta.original_name if meta else "")[:400],
                original_sha256=meta.sha256 if meta else "", document=imported.document.decode("utf-8")))
        else:
            # publishing an older list again makes it the current one again
            conn.execute(sa.update(lists).where(lists.c.sha256 == digest).values(
                published_at=time.time() if now is None else now))
    head = current_head(db)
    assert head is not None          # published just above
    return head


def _current(conn: sa.Connection, *columns: Any) -> Any:
    return conn.execute(sa.select(*columns).order_by(lists.c.published_at.desc(), lists.c.id.desc()).limit(1)).first()


def current_head(db: Database) -> Head | None:
    with db.connect() as conn:
        row = _current(conn, lists.c.sha256, lists.c.rows, lists.c.source, lists.c.publication_date,
                       lists.c.published_at)
    return Head(row.sha256, row.rows, row.source, row.publication_date, row.published_at) if row else None


def current_document(db: Database) -> tuple[Head, str]:
    """(head, document text); raises NotFound when HQ has published no list."""
    with db.connect() as conn:
        row = _current(conn, lists.c.sha256, lists.c.rows, lists.c.source, lists.c.publication_date,
                       lists.c.published_at, lists.c.document)
    if row is None:
        raise NotFound("a published dual-channel list")
    return Head(row.sha256, row.rows, row.source, row.publication_date, row.published_at), row.document


class HeadCache:
    """The current head, re-read at most every ``ttl_s``: every heartbeat answer carries it, and a list published
    by another HQ process (or the CLI) reaches the stores within ``ttl_s`` plus one heartbeat."""

    def __init__(self, db: Database, ttl_s: float = 5.0):
        self.db = db
        self.ttl_s = ttl_s
        self._at = -1e18
        self._head: Head | None = None
        self._lock = threading.Lock()

    def get(self) -> Head | None:
        now = time.monotonic()
        with self._lock:
            if now - self._at >= self.ttl_s:
                self._head = current_head(self.db)
                self._at = now
            return self._head
