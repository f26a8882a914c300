"""The ledger's SQLite file: one connection, one lock, explicit transactions and forward-only migrations.

WAL with ``synchronous=FULL`` because a counter PC loses power: a journal row that says a settlement was sent must
survive it (journal before send, docs/architecture.md "Money"). Money is stored as TEXT decimal strings so no float
ever touches it. Only the table modules of this package hold SQL; they reach the connection through
``Database.transaction`` (writes) and ``Database.read``/``read_one`` (reads).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from plugin.errors import RxlaneError
from plugin.store.migrations import MIGRATIONS

Connection = sqlite3.Connection
Row = sqlite3.Row


def dumps(value: Any) -> str:
    """JSON text for a ledger column: Decimal money as two-decimal strings, keys sorted, Chinese kept."""
    return json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def pack(value: Any) -> bytes:
    """Journal bodies are written once and read only in a dispute: zlib keeps them at a fifth of their size."""
    return zlib.compress(dumps(value).encode("utf-8"), 6)


def unpack(stored: bytes | str | None) -> Any:
    if stored is None:
        return None
    return json.loads(zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored)


def now() -> str:
    return datetime.now().isoformat(sep=" ", timespec="seconds")


class LedgerError(RxlaneError):
    def __init__(self, message: str):
        super().__init__("INTERNAL", f"ledger: {message}", "本地账本错误，请联系技术支持。")


class Database:
    """One connection shared by the service's threads, serialised by a lock; transactions are explicit."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        self.conn = conn
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise LedgerError(f"{self.path} was written by a newer rxlane (schema {version})")
            pending = MIGRATIONS[version:]
            if not pending:
                return
            import sqlite_utils   # only when the schema moves: a normal start does not pay for it
            db = sqlite_utils.Database(self.conn)
            for number, step in enumerate(pending, start=version + 1):
                if isinstance(step, str):
                    self.conn.executescript(f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version={number};\nCOMMIT;")
                    continue
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    step(db)
                    self.conn.execute(f"PRAGMA user_version={number}")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self.read_one("PRAGMA user_version")[0])  # type: ignore[index]

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Connection]:
        """BEGIN IMMEDIATE … COMMIT: all or nothing, so no half-written sale survives an error or a crash.

        `durable=False` commits without its own fsync (synchronous=NORMAL) for rows whose loss in a power cut is
        harmless (a patient lookup, a draft, a pre-settlement, an upload's answer that will simply be asked
        again). WAL is sequential, so the next durable commit's fsync persists them too; money never uses it."""
        with self._lock:
            if not durable:
                self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
            finally:
                if not durable:
                    self.conn.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def writing(self, conn: Connection | None, durable: bool = True) -> Iterator[Connection]:
        """The caller's transaction when it passes one, else a transaction of its own."""
        if conn is not None:
            yield conn
        else:
            with self.transaction(durable) as c:
                yield c

    def read(self, sql: str, params: Any = ()) -> list[Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def read_one(self, sql: str, params: Any = ()) -> Row | None:
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def healthy(self) -> bool:
        """A cheap probe for `/v1/health` (it is polled); the full check is `integrity_ok`."""
        try:
            row = self.read_one("SELECT count(*) FROM sqlite_master")
            return bool(row and row[0] > 0)
        except sqlite3.Error:
            return False

    def integrity_ok(self) -> bool:
        """PRAGMA quick_check: seconds on a large ledger, so only for `rxlane doctor`."""
        try:
            row = self.read_one("PRAGMA quick_check")
            return bool(row and row[0] == "ok")
        except sqlite3.Error:
            return False
