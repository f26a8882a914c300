"""Keeping the ledger bounded (docs/reconciliation.md, "Retention"): a daily job that runs after a backup.

Once a day at ``[retention] at``:

1. a backup of the ledger is made (``Retention.backup``: by default a consistent copy into ``[retention]
   backup_dir`` with SQLite's online backup, plugin/store/files.py; copies older than ``backups_kept`` days are
   removed). If it fails, nothing is pruned that day;
2. outbox rows delivered or superseded more than ``outbox_days`` ago are removed (their journal rows stay);
3. the request and answer bodies of journal messages older than ``journal_years`` are dropped — financial records
   kept their legal period, and a copy was just made — while the rows stay (msgid, transaction, sale, outcome, the
   insurer's code and text).

Idempotency records are not this job's: the service expires them on its own much sooner (``[server]
idempotency_ttl_h``). Every run is in the audit trail (the schedule reads its own record there).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from plugin.config import RetentionSettings
from plugin.reconcile import due, recent_runs
from plugin.store import Ledger

log = logging.getLogger("rxlane.retention")
AUDIT_KIND = "retention"
#: A backup: makes a copy of the ledger and returns where it put it, or raises.
Backup = Callable[[], str]


def _stamp(when: datetime) -> str:
    return when.isoformat(sep=" ", timespec="seconds")


def ledger_backup(ledger: Ledger, directory: Path, keep_days: int,
                  now: Callable[[], datetime] = datetime.now) -> Backup:
    """The default backup: ``ledger-YYYYmmdd-HHMMSS.sqlite3`` in ``directory`` (0600), copies older than
    ``keep_days`` removed after a new one succeeded."""
    def make() -> str:
        from plugin.store.files import backup
        when = now()
        result = backup(ledger.path, directory / f"ledger-{when:%Y%m%d-%H%M%S}.sqlite3")
        cutoff = (when - timedelta(days=keep_days)).strftime("%Y%m%d-%H%M%S")
        for old in directory.glob("ledger-*.sqlite3"):
            if old.name[len("ledger-"):-len(".sqlite3")] < cutoff:
                old.unlink(missing_ok=True)
        return result.path
    return make


@dataclass
class Retention:
    ledger: Ledger
    settings: RetentionSettings
    backup: Backup | None = None       # None: no copy can be made, so journal bodies are kept

    def run(self, now: datetime) -> dict[str, Any]:
        """Back up, then prune; returns what was done (also written to the audit trail)."""
        report: dict[str, Any] = {"date": now.date().isoformat(), "at": _stamp(now), "backup": None}
        if self.backup is not None:
            try:
                report["backup"] = str(self.backup())
            except Exception as exc:   # noqa: BLE001 — any failure of the backup means: no copy, prune nothing
                report.update(ok=False, error=f"backup failed: {type(exc).__name__}")
                self.ledger.audit.append(f"{AUDIT_KIND}_failed", None, report)
                log.warning("retention: backup failed, nothing pruned: %s", type(exc).__name__)
                return report
        s = self.settings
        report["outbox"] = self.ledger.outbox.prune_finished(_stamp(now - timedelta(days=s.outbox_days)))
        if report["backup"] is None:
            report["journal"] = "kept: no backup"
        else:
            try:
                cutoff = now.replace(year=now.year - s.journal_years)
            except ValueError:   # 29 February
                cutoff = now.replace(year=now.year - s.journal_years, day=28)
            pruned, step = 0, -1
            while step != 0:
                step = self.ledger.journal.prune_bodies(_stamp(cutoff))
                pruned += step
            report["journal"] = pruned
        report["ok"] = True
        self.ledger.audit.append(AUDIT_KIND, None, report)
        return report

    def run_if_due(self, now: datetime) -> dict[str, Any] | None:
        """The recovery loop's hook: once a day at ``at``; a failed day is tried again an hour later."""
        if not due(now, recent_runs(self.ledger, AUDIT_KIND), self.settings.at):
            return None
        failed = recent_runs(self.ledger, f"{AUDIT_KIND}_failed", 1)
        if failed and abs(now - failed[0].at) < timedelta(hours=1):
            return None
        return self.run(now)
