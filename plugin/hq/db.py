"""HQ's database: SQLite in the data dir for a trial (embedded, nothing to install), PostgreSQL for a chain.

``open_database(url)`` builds a SQLAlchemy engine and brings the schema up to date (plugin/hq/schema.py). URLs:
``sqlite:////var/lib/rxlane-hq/hq.sqlite3`` or ``postgresql://user:pass@host:5432/rxlane_hq`` (``postgres://`` and
``postgresql+psycopg://`` too; the driver is psycopg 3). On SQLite every transaction takes the write lock at its
start (``BEGIN IMMEDIATE``), so two writers queue instead of failing with "database is locked" mid-transaction.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from plugin.errors import InvalidInput, RxlaneError
from plugin.hq import schema

SQLITE_NAME = "hq.sqlite3"
_MIGRATION_LOCK = 0x72786C68   # "rxlh": the advisory lock id several HQ processes migrate under


def default_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir).absolute() / SQLITE_NAME}"


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// → postgresql+psycopg:// (SQLAlchemy's default PostgreSQL driver is psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def masked_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparseable database URL>"


@dataclass
class Database:
    engine: sa.Engine
    url: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def begin(self):
        """A transaction: ``with db.begin() as conn: …`` commits at the end, rolls back on an exception."""
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_nothing``."""
        from sqlalchemy.dialects import postgresql, sqlite
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str, pool_size: int) -> sa.Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not Path(path).exists():
            Path(path).touch(mode=0o600)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                              pool_size=pool_size, max_overflow=pool_size)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None          # we say BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_engine(url: str, pool_size: int = 8) -> sa.Engine:
    url = normalise_url(url)
    try:
        dialect = make_url(url).get_backend_name()
    except sa.exc.ArgumentError:
        raise InvalidInput("hq.database_url is not a database URL", "hq.database_url 不是有效的数据库地址",
                           field="hq.database_url") from None
    if dialect == "sqlite":
        return _sqlite_engine(url, pool_size)
    if dialect != "postgresql":
        raise InvalidInput(f"hq.database_url: {dialect} is not supported (sqlite or postgresql)",
                           "hq.database_url 只支持 sqlite 或 postgresql", field="hq.database_url")
    # no pre-ping: it would cost every heartbeat a round trip; a connection PostgreSQL dropped fails one request
    # (503, the store sends it again) and SQLAlchemy then replaces the pool's connections
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                            connect_args={"connect_timeout": 10, "application_name": "rxlane-hq"})


def schema_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_versions.name):
        return 0
    return conn.execute(sa.select(sa.func.max(schema.schema_versions.c.version))).scalar() or 0


def migrate(db: Database) -> list[int]:
    """Apply every pending migration; returns the versions applied now. Raises when the database is newer."""
    applied: list[int] = []
    with db.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        if not sa.inspect(conn).has_table(schema.schema_versions.name):
            schema.schema_versions.create(conn)
        current = schema_version(conn)
        if current > schema.LATEST:
            raise RxlaneError("INVALID_STATE", f"the HQ database has schema {current}, written by a newer rxlane "
                                               f"(this one knows {schema.LATEST}); upgrade rxlane",
                              f"总部数据库结构版本 {current} 高于本程序（{schema.LATEST}），请升级 rxlane。")
        for version, description, step in schema.MIGRATIONS:
            if version <= current:
                continue
            step(conn)
            conn.execute(sa.insert(schema.schema_versions).values(version=version, applied_at=time.time(),
                                                                  description=description))
            applied.append(version)
    return applied


def open_database(url: str, *, pool_size: int = 8, migrate_now: bool = True) -> Database:
    """Connect and (by default) migrate. Connection failures raise RxlaneError UPSTREAM_UNAVAILABLE naming the
    database without its password."""
    engine = create_engine(url, pool_size)
    db = Database(engine, normalise_url(url))
    try:
        if migrate_now:
            migrate(db)
        else:
            with db.connect():
                pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise RxlaneError("UPSTREAM_UNAVAILABLE", f"cannot open the HQ database {masked_url(url)}: {reason}",
                          f"无法连接总部数据库 {masked_url(url)}", http_status=503) from None
    path = make_url(db.url).database if db.dialect == "sqlite" else None
    if path and path != ":memory:" and os.path.exists(path):
        os.chmod(path, 0o600)
    return db
