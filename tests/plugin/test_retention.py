"""The daily retention job (plugin/retention.py; docs/reconciliation.md "Retention"): after a backup, delivered
uploads older than their days and journal bodies older than their years are pruned; without a backup the journal
bodies stay; a failed backup prunes nothing; the daily copies are kept for their days."""
from __future__ import annotations

from datetime import datetime

import pytest

from plugin.config import RetentionSettings
from plugin.retention import Retention, ledger_backup
from plugin.store import Ledger, dumps, pack

NOW = datetime(2026, 6, 1, 3, 30)
OLD, RECENT = "2020-01-01 10:00:00", "2026-05-31 10:00:00"
ANCIENT = "1990-01-01 10:00:00"


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite3")
    with led.transaction() as c:
        for msgid, at in (("M-ANCIENT", ANCIENT), ("M-RECENT", RECENT)):
            c.execute("INSERT INTO journal (msgid, infno, sale_id, body_json, state, answer_json, created_at) "
                      "VALUES (?,?,?,?,?,?,?)", (msgid, "2102", "S1", pack({"input": "x" * 200}), "answered",
                                                 pack({"output": "y" * 200}), at))
        for state, at in (("done", OLD), ("done", RECENT), ("parked", OLD), ("superseded", OLD)):
            c.execute("INSERT INTO outbox (infno, sale_id, body_json, state, next_at, created_at, done_at) "
                      "VALUES (?,?,?,?,?,?,?)", ("3505", "S1", dumps({}), state, at, at,
                                                 at if state == "done" else None))
    yield led
    led.close()


def states(ledger) -> list[str]:
    return sorted(r[0] for r in ledger.query("SELECT state FROM outbox"))


def test_without_a_backup_old_delivered_uploads_go_and_journal_bodies_stay(ledger):
    report = Retention(ledger, RetentionSettings()).run(NOW)
    assert (report["outbox"], report["journal"]) == (2, "kept: no backup")
    assert states(ledger) == ["done", "parked"]                  # the recent one, and the one still to fix
    assert ledger.journal.message("M-ANCIENT")["body"] == {"input": "x" * 200}


def test_after_a_backup_journal_bodies_past_their_years_are_dropped_and_their_rows_kept(ledger):
    made = []
    report = Retention(ledger, RetentionSettings(journal_years=30), backup=lambda: made.append(1) or "/b/1").run(NOW)
    assert made == [1] and report["backup"] == "/b/1" and report["journal"] == 1
    ancient = ledger.journal.message("M-ANCIENT")
    assert ancient["body"] == {"pruned": True}
    assert ancient["answer"] is None and (ancient["state"], ancient["infno"]) == ("answered", "2102")
    assert ledger.journal.message("M-RECENT")["answer"] == {"output": "y" * 200}
    assert Retention(ledger, RetentionSettings(), backup=lambda: "/b/2").run(NOW)["journal"] == 0   # done once


def test_a_failed_backup_prunes_nothing_and_is_audited(ledger):
    def broken() -> str:
        raise OSError("disk full")

    report = Retention(ledger, RetentionSettings(), backup=broken).run(NOW)
    assert report["ok"] is False and len(states(ledger)) == 4
    assert ledger.audit.last_at("retention_failed") is not None and ledger.audit.last_at("retention") is None


def test_the_job_runs_once_a_day_at_its_time(ledger):
    job = Retention(ledger, RetentionSettings(at="03:00"))
    today = datetime.now().replace(hour=3, minute=10, second=0, microsecond=0)
    assert job.run_if_due(today.replace(hour=2, minute=59)) is None
    assert job.run_if_due(today)["ok"] is True
    assert job.run_if_due(today.replace(minute=40)) is None


def test_the_default_backup_is_a_checked_copy_and_old_copies_go(ledger, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "ledger-20200101-033000.sqlite3").write_bytes(b"an old copy")
    made = ledger_backup(ledger, backups, keep_days=7, now=lambda: NOW)()
    copy = Ledger(made)
    try:
        assert copy.journal.message("M-RECENT")["answer"] == {"output": "y" * 200}
    finally:
        copy.close()
    assert sorted(p.name for p in backups.iterdir()) == [f"ledger-{NOW:%Y%m%d-%H%M%S}.sqlite3"]
