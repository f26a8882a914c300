"""The ledger's files on disk: private permissions, a sound header, atomic creation, their identity (so that a
deletion under the running process is noticed), rescue through a live connection, online backup and restore, and the
full integrity check (docs/reliability.md, "The ledger").

The SQLite file format is public (sqlite.org, "Database File Format"): a 100-byte header starting with the magic
string, the page size at offset 16 (1 means 65536), the change counter at 24, the page count at 28 (valid when the
"version-valid-for" number at 92 equals the change counter). Only what rxlane needs of it is read here.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from collections.abc import Callable
from urllib.parse import quote

from plugin.errors import LedgerFault, RxlaneError

MAGIC = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm")
POSIX = os.name == "posix"

# SQLite primary result codes (sqlite.org, "Result and Error Codes")
SQLITE_PERM, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 3, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26


def fault_of(exc: sqlite3.Error, writing: bool) -> LedgerFault | None:
    """The ledger fault an SQLite error stands for, or None when it is not about the file (a constraint, a bug)."""
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc).lower()
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == SQLITE_FULL or "database or disk is full" in text:
        return LedgerFault("LEDGER_WRITE_FAILED", "disk full")
    if primary == SQLITE_IOERR or "disk i/o error" in text:
        return LedgerFault("LEDGER_WRITE_FAILED" if writing else "LEDGER_DAMAGED", "I/O error")
    if primary == SQLITE_READONLY or "readonly database" in text:
        return LedgerFault("LEDGER_READ_ONLY", "the ledger is read-only")
    if primary in (SQLITE_CANTOPEN, SQLITE_PERM) or "unable to open database file" in text:
        return LedgerFault("LEDGER_READ_ONLY", "the ledger's files cannot be opened for writing")
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
        return LedgerFault("LEDGER_DAMAGED", "damaged pages")
    return None


# -- permissions ---------------------------------------------------------------------------------------------------
def private_dir(directory: Path) -> None:
    """Create ``directory`` (0700) or take group and other access away from it. Personal data lives inside."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise unusable(exc, directory) from None
    _private(directory, 0o700)


def unusable(exc: OSError, path: Path) -> LedgerFault:
    """The fault an OS error on the data directory or a ledger file stands for."""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return LedgerFault("LEDGER_READ_ONLY", f"{path.name}: {exc.strerror}")
    return LedgerFault("LEDGER_WRITE_FAILED", f"{path.name}: {exc.strerror}")


def private_file(path: Path) -> None:
    """Take group and other access away from a ledger file and its WAL/shm (SQLite gives those the main file's
    mode when it creates them, so a private main file keeps them private)."""
    for p in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        _private(p, 0o600)


def _private(path: Path, mode: int) -> None:
    """Take group and other access away from a file or folder of ours — never from a shared folder (the sticky bit,
    as /tmp has: taking it away would lock every other user and service out of it)."""
    if not POSIX:
        return    # Windows: the user's profile directory is already private; chmod only toggles read-only there
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
            return
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and st.st_uid == os.geteuid():
            os.chmod(path, mode)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise unusable(exc, path) from None


def create_private(path: Path) -> None:
    """An empty file that only its owner may read (0600 from the start, whatever the umask)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)


# -- the header ----------------------------------------------------------------------------------------------------
def check_header(path: Path) -> None:
    """Refuse a file that cannot be a sound ledger: empty, not SQLite, or shorter than its own header says.
    The length check is skipped while a WAL holds frames (SQLite replays it; damage then shows in quick_check)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(100)
    except PermissionError:
        raise LedgerFault("LEDGER_READ_ONLY", "the ledger file cannot be read") from None
    except OSError as exc:
        raise LedgerFault("LEDGER_DAMAGED", f"the ledger file cannot be read: {exc.strerror}") from None
    if size == 0:
        raise LedgerFault("LEDGER_DAMAGED", "the ledger file is empty (zero bytes)")
    if len(header) < 100 or not header.startswith(MAGIC):
        raise LedgerFault("LEDGER_DAMAGED", "the ledger file is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise LedgerFault("LEDGER_DAMAGED", "the ledger file's header is damaged")
    if _wal_has_frames(path):
        return
    if size % page_size:
        raise LedgerFault("LEDGER_DAMAGED", "the ledger file is truncated (not a whole number of pages)")
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and pages and size < pages * page_size:
        raise LedgerFault("LEDGER_DAMAGED", f"the ledger file is truncated ({size} of {pages * page_size} bytes)")


def _wal_has_frames(path: Path) -> bool:
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 32   # the WAL header alone is 32 bytes
    except OSError:
        return False


# -- identity: noticing a file deleted or replaced under the running process ---------------------------------------
@dataclass(frozen=True)
class Identity:
    main: tuple[int, int] | None
    wal: tuple[int, int] | None


def _ident(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def identity(path: Path) -> Identity:
    return Identity(_ident(path), _ident(path.with_name(path.name + "-wal")))


def lost_files(path: Path, known: Identity) -> list[str]:
    """Which of the ledger's files are no longer the ones the process opened (deleted, or replaced)."""
    now = identity(path)
    lost = []
    if known.main is not None and now.main != known.main:
        lost.append(path.name)
    if known.wal is not None and now.wal != known.wal:
        lost.append(path.name + "-wal")
    return lost


def rescue(conn: sqlite3.Connection, path: Path) -> Path:
    """Put the books a live connection still sees back at ``path``: an online backup through that connection
    (it reads the deleted WAL's frames too) into a new file, then whatever is left at the path — the survivor
    of the main file or its WAL, which no longer belong together — moved aside as ``*.lost-<time>``, and the copy
    renamed into place. A restart then opens the rescued books. Returns the path of the set-aside files' stem."""
    private_dir(path.parent)
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    copy = path.with_name(path.name + ".rescue")
    copy.unlink(missing_ok=True)
    create_private(copy)
    target = sqlite3.connect(copy)
    try:
        conn.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
    aside = path.with_name(f"{path.name}.lost-{stamp}")
    for suffix in ("", *SIDE_FILES):
        old = path.with_name(path.name + suffix)
        if old.exists():
            os.replace(old, aside.with_name(aside.name + suffix))
    os.replace(copy, path)
    _sync_dir(path.parent)
    return aside


def _sync_dir(directory: Path) -> None:
    if not POSIX:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- backup, restore, integrity ------------------------------------------------------------------------------------
def read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write (``mode=ro``): for backups, checks and the offline commands that only read,
    beside a running service. ``NOT_FOUND`` when there is no ledger."""
    if not path.exists():
        raise RxlaneError("NOT_FOUND", f"There is no ledger at {path}.", f"未找到本地账本：{path}")
    try:
        conn = sqlite3.connect(f"file:{_uri(path)}?mode=ro", uri=True, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise fault_of(exc, writing=False) or LedgerFault("LEDGER_DAMAGED", str(exc)) from None
    conn.row_factory = sqlite3.Row
    return conn


def _uri(path: Path) -> str:
    return quote(str(path.resolve()))


def quick_check(path: Path) -> bool:
    """``PRAGMA quick_check`` on a connection of its own (seconds on a large ledger; no lock of the service's)."""
    try:
        conn = read_only(path)
    except RxlaneError:
        return False
    try:
        row = conn.execute("PRAGMA quick_check").fetchone()
        return bool(row and row[0] == "ok")
    except sqlite3.Error:
        return False
    finally:
        conn.close()


@dataclass(frozen=True)
class BackupResult:
    path: str
    bytes: int
    pages: int
    integrity: bool


def backup(source: Path, destination: Path, progress: Callable[[int, int], None] | None = None) -> BackupResult:
    """A consistent copy of a ledger — live or not — with SQLite's online backup API (sqlite.org, "Online Backup
    API"): pages are copied in steps under the source's read lock, so a running service keeps writing; the copy
    is written under a temporary name (0600), checked, and renamed, so ``destination`` is whole or absent."""
    src = read_only(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + ".partial")
    tmp.unlink(missing_ok=True)
    create_private(tmp)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst, pages=256, progress=(lambda _s, rem, tot: progress(tot - rem, tot)) if progress else None)
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
        finally:
            dst.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise fault_of(exc, writing=True) or LedgerFault("LEDGER_WRITE_FAILED", str(exc)) from None
    finally:
        src.close()
    if not ok:
        tmp.unlink(missing_ok=True)
        raise LedgerFault("LEDGER_DAMAGED", "the copy failed its integrity check: the ledger itself is damaged")
    os.replace(tmp, destination)
    return BackupResult(str(destination), destination.stat().st_size, pages, ok)


def restore(backup_file: Path, path: Path) -> Path | None:
    """Put a backup in place of the ledger (the caller holds the data directory): the backup is checked first;
    a ledger already there, with its WAL and shm, is moved aside as ``*.replaced-<time>`` and that path returned."""
    check_header(backup_file)
    if not quick_check(backup_file):
        raise LedgerFault("LEDGER_DAMAGED", f"{backup_file.name} fails the integrity check; not restored")
    private_dir(path.parent)
    copy = path.with_name(path.name + ".restoring")
    copy.unlink(missing_ok=True)
    create_private(copy)
    src, dst = read_only(backup_file), sqlite3.connect(copy)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        src.close()
        dst.close()
    aside = None
    if path.exists():
        aside = path.with_name(f"{path.name}.replaced-{datetime.now().strftime('%Y%m%d%H%M%S')}")
    for suffix in ("", *SIDE_FILES):
        old = path.with_name(path.name + suffix)
        if old.exists() and aside is not None:
            os.replace(old, aside.with_name(aside.name + suffix))
        elif old.exists():
            old.unlink()
    os.replace(copy, path)
    _sync_dir(path.parent)
    return aside
