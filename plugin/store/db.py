"""The ledger's SQLite file: one connection, one lock, explicit transactions and forward-only migrations.

WAL with ``synchronous=FULL`` because a counter PC loses power: a journal row that says a settlement was sent must
survive it (journal before send, docs/architecture.md "Money"). Money is stored as TEXT decimal strings so no float
ever touches it. Only the table modules of this package hold SQL; they reach the connection through
``Database.transaction`` (writes) and ``Database.read``/``read_one`` (reads).

The file is also watched (docs/reliability.md, "The ledger"): it is private (0600 in a 0700 directory), a new one is
built under a temporary name so an empty file can only be damage, a damaged, truncated or read-only file is refused
at open with a coded ``LedgerFault``, a disk or I/O failure during a write becomes ``LEDGER_WRITE_FAILED``, and
the loss of the file or its WAL under the running process is noticed (``check_files``): the books are rescued
through the open connection and every further write is refused until a restart.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from plugin.errors import LedgerFault, RxlaneError
from plugin.store import files
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
    """Journal bodies are written once and read only in a dispute: zlib keeps them at a fifth of their size. Level 1:
    on a 3505 body it is 2.5× faster than the default 6 for 6 % more bytes, and a journal row is written before
    every message the counter waits for."""
    return zlib.compress(dumps(value).encode("utf-8"), 1)


def unpack(stored: bytes | str | None) -> Any:
    if stored is None:
        return None
    return json.loads(zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored)


def now() -> str:
    return datetime.now().isoformat(sep=" ", timespec="seconds")


class LedgerError(RxlaneError):
    def __init__(self, message: str):
        super().__init__("INTERNAL", f"ledger: {message}", "本地账本错误，请联系技术支持。")


#: Called when a transaction ends: with None after COMMIT, with the error after a ROLLBACK; may return an error to
#: raise in its place (the journaled exchange turns a lost answer record into SETTLEMENT_IN_DOUBT this way).
Outcome = Callable[[BaseException | None], BaseException | None]

#: How long after a failed write health keeps saying so (a full disk that was freed clears on the next commit).
WRITE_FAULT_SHOWN_S = 300.0


class Database:
    """One connection shared by the service's threads, serialised by a lock; transactions are explicit.

    ``fault`` is set, for good, when the file is found damaged or deleted under the process: writes are then
    refused with it (reads still answer, so health and the offline commands can say what happened)."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._outcomes: list[Outcome] = []
        self.fault: LedgerFault | None = None
        self.last_write_fault: tuple[float, LedgerFault] | None = None
        if read_only:
            self.conn = files.read_only(self.path)
            self._identity = files.identity(self.path)
            return
        files.private_dir(self.path.parent)
        if not self.path.exists():
            self._create()
        files.private_file(self.path)
        files.check_header(self.path)
        self.conn = self._connect(self.path)
        self._migrate(self.conn)
        self._identity = files.identity(self.path)

    # -- opening ----------------------------------------------------------------------------------------------
    def _connect(self, path: Path) -> Connection:
        conn = None
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.row_factory = sqlite3.Row
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                raise LedgerFault("LEDGER_READ_ONLY", "the ledger cannot be switched to WAL (read-only?)")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()   # page 1 read: NOTADB/CORRUPT show here
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            fault = files.fault_of(exc, writing=True)
            if fault is None:
                raise
            raise fault from None

    def _create(self) -> None:
        """A new ledger is built and migrated under a temporary name, then renamed into place: a zero-length
        ledger.sqlite3 can then only be damage, never a half-made fresh store."""
        tmp = self.path.with_name(self.path.name + ".new")
        for suffix in ("", *files.SIDE_FILES):
            tmp.with_name(tmp.name + suffix).unlink(missing_ok=True)
        try:
            files.create_private(tmp)
        except PermissionError:
            raise LedgerFault("LEDGER_READ_ONLY", "the data directory is read-only") from None
        except OSError as exc:
            raise LedgerFault("LEDGER_WRITE_FAILED", f"cannot create the ledger: {exc.strerror}") from None
        conn = self._connect(tmp)
        try:
            self._migrate(conn)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        os.replace(tmp, self.path)

    def _migrate(self, conn: Connection) -> None:
        with self._lock:
            try:
                self._migrate_steps(conn)
            except sqlite3.Error as exc:
                fault = files.fault_of(exc, writing=True)
                if fault is None:
                    raise
                raise fault from None

    def _migrate_steps(self, conn: Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise LedgerError(f"{self.path} was written by a newer rxlane (schema {version})")
        pending = MIGRATIONS[version:]
        if not pending:
            return
        db = None
        for number, step in enumerate(pending, start=version + 1):
            if isinstance(step, str):
                conn.executescript(f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version={number};\nCOMMIT;")
                continue
            if db is None:
                import sqlite_utils   # only for a step written in Python: a start that runs none does not pay for it
                db = sqlite_utils.Database(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                step(db)
                conn.execute(f"PRAGMA user_version={number}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self.read_one("PRAGMA user_version")[0])  # type: ignore[index]

    # -- writing ----------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Connection]:
        """BEGIN IMMEDIATE … COMMIT: all or nothing, so no half-written sale survives an error or a crash.

        `durable=False` commits without its own fsync (synchronous=NORMAL) for rows whose loss in a power cut is
        harmless (a patient lookup, a draft, a pre-settlement, an upload's answer that will simply be asked
        again). WAL is sequential, so the next durable commit's fsync persists them too; money never uses it.

        A disk or I/O failure (full disk, read-only file, damaged page) raises ``LedgerFault`` instead of
        sqlite3's error; callbacks registered with ``on_outcome`` run when the transaction has ended."""
        with self._lock:
            if self.fault is not None:
                raise self.fault
            if self.read_only:
                raise LedgerFault("LEDGER_READ_ONLY", "opened read-only")
            self._outcomes = []
            try:
                if not durable:
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._restore_synchronous(durable)
                raise self._translated(exc) from None
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                self._restore_synchronous(durable)
                error = self._translated(exc)
                replacement = self._ended(error)
                if replacement is not None:
                    raise replacement from None
                if error is not exc:
                    raise error from None
                raise
            self._restore_synchronous(durable)
            self.last_write_fault = None
            self._ended(None)

    def on_outcome(self, conn: Connection, callback: Outcome) -> None:
        """Run ``callback`` when the transaction ``conn`` is in has committed (with None) or failed (with the
        error, after ROLLBACK). Only inside ``transaction()``."""
        if not conn.in_transaction:
            raise RuntimeError("on_outcome needs an open transaction")
        self._outcomes.append(callback)

    def _ended(self, error: BaseException | None) -> BaseException | None:
        outcomes, self._outcomes = self._outcomes, []
        replacement = None
        for callback in outcomes:
            replacement = callback(error) or replacement
        return replacement

    def _rollback(self) -> None:
        if self.conn.in_transaction:     # SQLite rolls back by itself after some errors (a full disk)
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _restore_synchronous(self, durable: bool) -> None:
        if not durable:
            try:
                self.conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error:
                pass

    def _translated(self, exc: BaseException, writing: bool = True) -> BaseException:
        if not isinstance(exc, sqlite3.Error):
            return exc
        fault = files.fault_of(exc, writing=writing)
        if fault is None:
            return exc
        if fault.code == "LEDGER_DAMAGED":
            self.fault = fault
        elif writing:
            self.last_write_fault = (time.monotonic(), fault)
        return fault

    @contextmanager
    def writing(self, conn: Connection | None, durable: bool = True) -> Iterator[Connection]:
        """The caller's transaction when it passes one, else a transaction of its own."""
        if conn is not None:
            yield conn
        else:
            with self.transaction(durable) as c:
                yield c

    # -- reading ----------------------------------------------------------------------------------------------
    def read(self, sql: str, params: Any = ()) -> list[Row]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                error = self._translated(exc, writing=False)
                if error is exc:
                    raise
                raise error from None

    def read_one(self, sql: str, params: Any = ()) -> Row | None:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                error = self._translated(exc, writing=False)
                if error is exc:
                    raise
                raise error from None

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # -- watching the file --------------------------------------------------------------------------------------
    def healthy(self) -> bool:
        """A cheap probe for `/v1/health` (it is polled); the full check is `integrity_ok`."""
        if self.fault is not None:
            return False
        try:
            row = self.read_one("SELECT count(*) FROM sqlite_master")
            return bool(row and row[0] > 0)
        except (sqlite3.Error, LedgerFault):
            return False

    def write_failed_recently(self) -> LedgerFault | None:
        if self.last_write_fault is None:
            return None
        at, fault = self.last_write_fault
        return fault if time.monotonic() - at < WRITE_FAULT_SHOWN_S else None

    def integrity_ok(self) -> bool:
        """PRAGMA quick_check: seconds on a large ledger, so only for `rxlane doctor` and the start-up check."""
        try:
            row = self.read_one("PRAGMA quick_check")
            ok = bool(row and row[0] == "ok")
        except (sqlite3.Error, LedgerFault):
            ok = False
        if not ok and self.fault is None:
            self.fault = LedgerFault("LEDGER_DAMAGED", "the integrity check failed")
        return ok

    def check_files(self) -> LedgerFault | None:
        """Notice the ledger file or its WAL deleted (or replaced) under the running process. The first time, the
        books the open connection still sees are rescued into place (``files.rescue``) and every further write
        is refused: whatever would be written now would be lost at the next restart. Returns the fault, if any."""
        if self.fault is not None or self.read_only:
            return self.fault
        with self._lock:
            if self._identity.wal is None:   # a ledger opened in another journal mode gets its WAL on first use
                self._identity = files.identity(self.path)
            lost = files.lost_files(self.path, self._identity)
            if not lost:
                return None
            try:
                aside = files.rescue(self.conn, self.path)
                rescued = f"the books were rescued into {self.path.name}; the remains were set aside as {aside.name}*"
            except (OSError, sqlite3.Error) as exc:
                rescued = f"the rescue failed ({type(exc).__name__}); do not restart before support has looked"
            self.fault = LedgerFault("LEDGER_FILES_LOST", f"{', '.join(lost)} deleted while running; {rescued}")
            return self.fault

    def checkpoint(self) -> None:
        """Copy the WAL into the main file now (PASSIVE: never waits for a reader), so the main file alone is a
        recent copy of the books even before SQLite's own 1000-page checkpoint."""
        if self.fault is not None or self.read_only:
            return
        with self._lock:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                self._translated(exc)
