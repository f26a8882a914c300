"""One owner per data directory (docs/reliability.md, "One process per data directory").

Two processes on one ledger each believe the other's in-flight settlement was interrupted and reverse it, and
issue the same msgids. So the process that serves — or an offline command that changes the books — first takes an
OS-level lock on ``<data dir>/rxlane.lock`` (``flock`` on POSIX, ``LockFileEx`` on Windows, through the `filelock`
library), before anything else touches the directory. The OS drops the lock when the process ends, however it
ends, so a kill -9 never leaves a stale lock behind. A second process is refused with ``DATA_DIR_IN_USE``, naming
the owner from ``owner.json`` (pid, role, address), which the owner writes after taking the lock.
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock

from plugin.errors import DataDirInUse
from plugin.store.files import private_dir, unusable

LOCK_FILE = "rxlane.lock"
OWNER_FILE = "owner.json"


class Ownership:
    """The held lock of one data directory; ``release`` (or process exit) gives it up."""

    def __init__(self, directory: Path, lock: filelock.BaseFileLock, role: str):
        self.directory = directory
        self.role = role
        self._lock = lock
        self._owner = directory / OWNER_FILE
        self.announce()

    def announce(self, url: str = "") -> None:
        """Say who holds the directory (for the refusal a second process gets): pid, role, address, since."""
        body = {"pid": os.getpid(), "role": self.role, "url": url,
                "since": datetime.now().isoformat(sep=" ", timespec="seconds")}
        tmp = self._owner.with_name(OWNER_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps(body), encoding="utf-8")
            os.replace(tmp, self._owner)
        except OSError:
            pass   # only informative; the lock is what counts

    def release(self) -> None:
        if self._lock.is_locked:
            try:
                self._owner.unlink(missing_ok=True)
            except OSError:
                pass
            self._lock.release()

    def __enter__(self) -> Ownership:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim(directory: Path, role: str) -> Ownership:
    """Take the data directory for this process (creating it private, 0700) or raise ``DataDirInUse``."""
    private_dir(directory)
    lock = filelock.FileLock(str(directory / LOCK_FILE), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise DataDirInUse(str(directory), holder(directory)) from None
    except OSError as exc:      # a read-only or full disk: the lock file cannot even be made
        raise unusable(exc, directory / LOCK_FILE) from None
    return Ownership(directory, lock, role)


def holder(directory: Path) -> dict[str, Any] | None:
    """What the owner said of itself, if anything."""
    try:
        data = json.loads((directory / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def in_use(directory: Path) -> dict[str, Any] | None:
    """Is a live process holding ``directory``? Returns what it said of itself ({} when it said nothing), or None
    when the directory is free. Probing takes and at once drops the lock."""
    if not (directory / LOCK_FILE).exists():
        return None
    lock = filelock.FileLock(str(directory / LOCK_FILE), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout:
        return holder(directory) or {}
    except OSError:
        return None     # cannot even be locked (read-only): no live service writes there either
    lock.release()
    return None
