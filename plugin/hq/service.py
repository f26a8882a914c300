"""The headquarters service's parts, built once from the settings: the database, the clock, the list head cache.

`rxlane hq serve` wraps this in Flask (plugin/hq/app.py); `rxlane hq enroll|revoke|publish-list|report` use the same
object without a web server.
"""
from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import platformdirs

from plugin.errors import InvalidInput
from plugin.config import HqSettings, Settings
from plugin.hq.db import Database, default_url, open_database
from plugin.hq.published import HeadCache


def hq_data_dir(settings: Settings) -> Path:
    return Path(settings.hq.data_dir or platformdirs.user_data_dir("rxlane-hq", appauthor=False))


def database_url(settings: Settings) -> str:
    return settings.hq.database_url or default_url(hq_data_dir(settings))


def _secret(value: str, path: str, key: str) -> str:
    if value or not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidInput(f"hq.{key}_file: cannot read: {exc.strerror}", f"无法读取 hq.{key}_file",
                           field=f"hq.{key}_file") from None


@dataclass
class Hq:
    db: Database
    settings: HqSettings
    admin_token: str = field(default="", repr=False)
    clock: Callable[[], float] = time.time
    heads: HeadCache = field(init=False)

    def __post_init__(self) -> None:
        self.heads = HeadCache(self.db)

    def now(self) -> float:
        return self.clock()

    def is_admin(self, presented: str | None) -> bool:
        """Reads of the whole fleet need the admin token when one is set (always beyond loopback)."""
        if not self.admin_token:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(), self.admin_token.encode())

    def close(self) -> None:
        self.db.close()


def build_hq(settings: Settings, *, clock: Callable[[], float] = time.time, migrate: bool = True) -> Hq:
    """Open (and migrate) the database named by the settings. Raises RxlaneError on a bad URL or no database."""
    db = open_database(database_url(settings), pool_size=settings.hq.workers + 2, migrate_now=migrate)
    try:
        admin = _secret(settings.hq.admin_token, settings.hq.admin_token_file, "admin_token")
    except InvalidInput:
        db.close()
        raise
    return Hq(db=db, settings=settings.hq, admin_token=admin, clock=clock)
