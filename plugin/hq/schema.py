"""HQ's tables (SQLAlchemy Core) and the migrations that build them, the same on SQLite and PostgreSQL.

Times are epoch seconds (float) of HQ's clock, so comparisons and "seen N s ago" are plain arithmetic on both
databases. ``hq_stores`` holds each store's enrolment and its *current* state (the newest heartbeat), so the page
reads one row per store; ``hq_heartbeats`` is the ordered history, keyed by ``(store_id, seq)`` — the key that makes
a heartbeat idempotent. Report versions and published lists are kept whole.

Migrations only move forward: each is a numbered step applied in its own transaction under a lock (PostgreSQL
advisory lock; SQLite's write lock), so several HQ processes starting at once apply each step once. A database
written by a newer rxlane is refused, never downgraded.
"""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

metadata = sa.MetaData()
#: an id that is an autoincrementing 64-bit key on PostgreSQL and SQLite's INTEGER PRIMARY KEY (its rowid)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

schema_versions = sa.Table(
    "hq_schema_versions", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Float, nullable=False),
    sa.Column("description", sa.String(200), nullable=False),
)

stores = sa.Table(
    "hq_stores", metadata,
    sa.Column("store_id", sa.String(64), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("enrolled_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("region", sa.String(32), nullable=False, server_default=""),
    sa.Column("fixmedins_code", sa.String(32), nullable=False, server_default=""),
    sa.Column("fixmedins_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_seen", sa.Float),                 # HQ's clock when the newest heartbeat arrived
    sa.Column("sent_at", sa.Float),                   # the store's clock when it made that heartbeat
    sa.Column("version", sa.String(40)),
    sa.Column("health", sa.String(16)),               # the store's own status: ok | degraded
    sa.Column("problems", sa.String(400), nullable=False, server_default=""),   # comma list
    sa.Column("outbox_pending", sa.Integer),
    sa.Column("outbox_parked", sa.Integer),
    sa.Column("outbox_oldest_age_s", sa.Float),
    sa.Column("in_doubt", sa.Integer),
    sa.Column("device_errors", sa.Integer),
    sa.Column("upstream_reachable", sa.Boolean),
    sa.Column("list_version", sa.String(64)),
    sa.Column("last_body", sa.Text),                  # the newest heartbeat, JSON (health has no personal data)
)

heartbeats = sa.Table(
    "hq_heartbeats", metadata,
    sa.Column("store_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("health", sa.String(16)),
    sa.Column("problems", sa.String(400), nullable=False, server_default=""),
    sa.Column("version", sa.String(40)),
    sa.Column("outbox_pending", sa.Integer),
    sa.Column("in_doubt", sa.Integer),
    sa.Column("list_version", sa.String(64)),
    sa.Index("ix_hq_heartbeats_received_at", "received_at"),
)

reports = sa.Table(
    "hq_reports", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("flagged", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("store_id", "month", "version", name="uq_hq_reports_version"),
    sa.Index("ix_hq_reports_month", "month", "store_id"),
)

lists = sa.Table(
    "hq_lists", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("published_at", sa.Float, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(400), nullable=False, server_default=""),
    sa.Column("publication_date", sa.String(10)),
    sa.Column("region", sa.String(32), nullable=False, server_default=""),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("original_name", sa.String(400), nullable=False, server_default=""),
    sa.Column("original_sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("document", sa.Text, nullable=False),
)


def _v1(conn: sa.Connection) -> None:
    for table in (stores, heartbeats, reports, lists):
        table.create(conn)


def _v2(conn: sa.Connection) -> None:
    # the page filters by region and sorts by last_seen over every store; one index serves both
    # plain DDL: an Index object would attach itself to the table and be created by step 1 on the next database
    conn.execute(sa.text("CREATE INDEX ix_hq_stores_region_seen ON hq_stores (region, last_seen)"))


#: (version, description, step). Append only: a released step never changes.
MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "stores, heartbeats, reports, published lists", _v1),
    (2, "index stores by region and last seen", _v2),
]
LATEST = MIGRATIONS[-1][0]
