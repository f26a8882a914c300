"""Keeping the ledger bounded (docs/reconciliation.md, "Retention"): a daily job that runs after a backup.

Once a day at ``[retention] at``:

1. the backup hook runs, when one is wired (``Retention.backup``: a callable that makes a backup of the ledger and
   returns where it put it, or raises). If it fails, nothing is pruned that day;
2. ``idempotency`` records older than ``idempotency_days`` are removed (a POS retries within minutes), and outbox
   rows delivered or superseded more than ``outbox_days`` ago (their journal rows stay);
3. only after a backup succeeded: the request and answer bodies of journal messages older than ``journal_years``
   (the rows stay: msgid, transaction, sale, outcome, insurer's code and text). Without a backup hook the bodies
   are kept — financial records are never dropped without a copy.

Every run is in the audit trail (the schedule reads its own record there).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from plugin.config import RetentionSettings
from plugin.reconcile import due
from plugin.store import Ledger

log = logging.getLogger("rxlane.retention")
AUDIT_KIND = "retention"
Backup = Callable[[], str]


def _stamp(when: datetime) -> str:
    return when.isoformat(sep=" ", timespec="seconds")


@dataclass
class Retention:
    ledger: Ledger
    settings: RetentionSettings
    backup: Backup | None = None       # wired by the backup feature (`rxlane backup`); see the module docstring

    def run(self, now: datetime) -> dict[str, Any]:
        """Back up, then prune; returns what was done (also written to the audit trail)."""
        report: dict[str, Any] = {"at": _stamp(now), "backup": None}
        if self.backup is not None:
            try:
                report["backup"] = str(self.backup())
            except Exception as exc:   # noqa: BLE001 — any failure of the hook means: no copy, prune nothing
                report.update(ok=False, error=f"backup failed: {type(exc).__name__}")
                self.ledger.audit.append(f"{AUDIT_KIND}_failed", None, report)
                log.warning("retention: backup failed, nothing pruned: %s", type(exc).__name__)
                return report
        s = self.settings
        report["idempotency"] = self.ledger.idempotency.prune(_stamp(now - timedelta(days=s.idempotency_days)))
        report["outbox"] = self.ledger.outbox.prune_finished(_stamp(now - timedelta(days=s.outbox_days)))
        if report["backup"] is None:
            report["journal"] = "kept: no backup"
        else:
            cutoff = now.replace(year=now.year - s.journal_years) if not (now.month == 2 and now.day == 29) \
                else now.replace(year=now.year - s.journal_years, day=28)
            pruned, step = 0, -1
            while step != 0:
                step = self.ledger.journal.prune_bodies(_stamp(cutoff))
                pruned += step
            report["journal"] = pruned
        report["ok"] = True
        self.ledger.audit.append(AUDIT_KIND, None, report)
        return report

    def run_if_due(self, now: datetime) -> dict[str, Any] | None:
        """The recovery loop's hook: once a day at ``at``; a failed day is tried again at the next round after
        an hour."""
        if not due(now, self.ledger.audit.last_at(AUDIT_KIND), self.settings.at):
            return None
        failed = self.ledger.audit.last_at(f"{AUDIT_KIND}_failed")
        if failed is not None and now - failed < timedelta(hours=1):
            return None
        return self.run(now)
