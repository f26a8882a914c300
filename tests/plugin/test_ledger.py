"""The ledger: migrations move old files forward without losing rows; a newer file is refused, not damaged."""
import sqlite3

import pytest

from plugin.errors import RxlaneError
from plugin.store import Ledger
from plugin.store import db as db_mod
from plugin.store.migrations import MIGRATIONS


def test_a_version_1_ledger_migrates_forward_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version=1; COMMIT;")
    conn.execute("INSERT INTO patients VALUES ('Pold', 'psn', '02', 'x', '', '{}', '[]', '2026-01-01 00:00:00')")
    conn.close()
    led = Ledger(path)
    assert led.schema_version == len(MIGRATIONS)
    assert led.patients.get("Pold").psn_no == "psn"
    assert {"qty", "trdn"} <= {r[1] for r in led.query("PRAGMA table_info(trace_codes)")}
    assert led.query_one("SELECT count(*) FROM tokens")[0] == 0


def test_a_ledger_written_by_a_newer_rxlane_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RxlaneError) as err:
        Ledger(path)
    assert "newer rxlane" in err.value.message


def test_a_failed_migration_step_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "x.sqlite3"
    Ledger(path).close()

    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("power cut")
    monkeypatch.setattr(db_mod, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        Ledger(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0


def test_a_returning_patient_keeps_their_reference_and_gets_fresh_data(tmp_path):
    led = Ledger(tmp_path / "l.sqlite3")
    first = led.patients.save("P1", "psn", "02", "x", "", {"balc": "50.00"}, [])
    again = led.patients.save("P2", "psn", "02", "x", "", {"balc": "20.00"}, [])
    other_card = led.patients.save("P3", "psn", "03", "A1", "SN", {"balc": "20.00"}, [])
    assert first == again == "P1" and other_card == "P3"
    assert led.patients.get("P1").person["balc"] == "20.00"


def test_non_durable_commits_leave_full_synchronous_on_for_money(tmp_path):
    led = Ledger(tmp_path / "l.sqlite3")
    with led.transaction(durable=False):
        assert led.conn.execute("PRAGMA synchronous").fetchone()[0] == 1    # NORMAL
    assert led.conn.execute("PRAGMA synchronous").fetchone()[0] == 2        # FULL again
    with pytest.raises(ZeroDivisionError):
        with led.transaction(durable=False):
            raise ZeroDivisionError
    assert led.conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_journal_bodies_are_stored_compressed_and_read_back_whole(tmp_path):
    led = Ledger(tmp_path / "l.sqlite3")
    body = {"infno": "2102", "input": {"data": {"psn_no": "36010000000000000101", "note": "药" * 400}}}
    led.journal.request("M1", "2102", body, None)
    led.journal.answer("M1", "answered", answer={"setlinfo": {"setl_id": "ST1"}}, infcode=0)
    raw = led.query_one("SELECT body_json FROM journal WHERE msgid = 'M1'")[0]
    assert isinstance(raw, bytes) and len(raw) < len(str(body).encode()) / 4
    message = led.journal.message("M1")
    assert message["body"] == body and message["answer"]["setlinfo"]["setl_id"] == "ST1"
    led.journal.request("M1", "2102", {"other": 1}, None, retry=True)      # a resend keeps the first row
    assert led.journal.message("M1")["body"] == body


def test_journal_command_masks_id_numbers(tmp_path):
    from click.testing import CliRunner

    from plugin.cli import main
    led = Ledger(tmp_path / "ledger.sqlite3")
    led.journal.request("M2", "1101", {"input": {"data": {"certno": "360121196805122010"}}}, None)
    led.close()
    done = CliRunner().invoke(main, ["journal", "M2", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0 and "3601**********2010" in done.stdout and "360121196805122010" not in done.stdout
    assert CliRunner().invoke(main, ["journal", "NOPE", "--data-dir", str(tmp_path)]).exit_code == 1


def test_idempotency_answers_written_before_keys_had_callers_stay_with_loopback_callers(tmp_path):
    """Schema 6 scopes each Idempotency-Key to its caller; the keys of an older ledger belonged to loopback callers
    (tokens were needed only beyond loopback), so a POS retrying across the upgrade still gets its answer."""
    path = tmp_path / "v5.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]} PRAGMA user_version=1; COMMIT;")
    conn.execute("ALTER TABLE trace_codes ADD COLUMN qty TEXT NOT NULL DEFAULT '1'")
    for number, step in enumerate(MIGRATIONS[2:5], start=3):
        conn.executescript(f"BEGIN; {step} PRAGMA user_version={number}; COMMIT;")
    conn.execute("INSERT INTO idempotency VALUES ('pos1-sale-0001', 'POST', '/v1/sales', 'h', 'done', 201, '{}', "
                 "'2026-01-01 00:00:00')")
    conn.close()
    led = Ledger(path)
    assert led.schema_version == len(MIGRATIONS)
    assert led.idempotency.get("local", "pos1-sale-0001")["status"] == 201
    assert led.idempotency.get("token:1", "pos1-sale-0001") is None


def test_a_failed_write_is_a_coded_ledger_fault_and_outcome_callbacks_hear_it(tmp_path):
    from plugin.errors import LedgerFault
    led = Ledger(tmp_path / "l.sqlite3")
    heard: list = []
    with pytest.raises(LedgerFault) as err:
        with led.transaction() as c:
            led.db.on_outcome(c, lambda e: heard.append(e))
            raise sqlite3.OperationalError("database or disk is full")
    assert err.value.code == "LEDGER_WRITE_FAILED" and err.value.message_zh
    assert heard == [err.value] and led.write_failed_recently() is err.value
    with led.transaction() as c:
        led.db.on_outcome(c, lambda e: heard.append(e))
    assert heard[-1] is None and led.write_failed_recently() is None


def test_health_names_the_newest_refusal_first_however_many_uploads_wait(tmp_path):
    # docs/reconciliation.md "Refusals": a refused upload shows in health at once. With 12,000 rows waiting for
    # details and the refusal the newest row, the old listing (the first 10,000 unfinished rows) never reached it.
    from plugin.outbox import Outbox
    from plugin.store.outbox import PARKED, REFUSED_REASON, WAITING
    led = Ledger(tmp_path / "ledger.sqlite3")
    with led.transaction() as c:
        for n in range(12000):
            led.outbox.enqueue(c, "3505", f"S{n:05d}", {}, state=WAITING, reason="UPLOAD_DETAILS_MISSING")
        refused = led.outbox.enqueue(c, "3505", "S-refused", {}, state=PARKED, reason=REFUSED_REASON)
        delivered = led.outbox.enqueue(c, "3505", "S-done", {}, state="done")
    problems = Outbox(led, None).problems(limit=20)
    assert [p["id"] for p in problems[:2]] == [refused, refused - 1] and len(problems) == 20
    assert problems[0]["reason"] == REFUSED_REASON and all(p["id"] != delivered for p in problems)


def test_a_sales_upload_rows_read_for_its_view_carry_what_the_full_rows_carry(tmp_path):
    """The view's cut of the outbox bodies (SQLite's JSON functions) keeps plan, missing and codes as they are and
    drops what the message lacks; an SQLite without JSON functions gets the whole rows, which the view reads alike."""
    led = Ledger(tmp_path / "l.sqlite3")
    bodies = [{"plan": "sale", "missing": [{"line_no": 1, "fields": ["lot"]}], "codes": ["8" * 20]},
              {"sale_id": "S1", "input": {"selinfo": [{"drug_trac_codg": "x"}]}, "codes": []},
              {"sale_id": "S1", "batch": 0},                                   # queued by an older rxlane
              {"plan": "rx", "missing": None, "only": ["7206"]}]
    with led.transaction() as c:
        for body in bodies:
            led.outbox.enqueue(c, "3505", "S1", body)
    full = led.outbox.for_sale("S1")
    shown = led.outbox.shown_for_sale("S1")
    keys = ("plan", "missing", "codes")
    assert [{k: r.body[k] for k in keys if r.body.get(k) is not None} for r in full] == [r.body for r in shown]
    assert [(r.id, r.state, r.infno) for r in full] == [(r.id, r.state, r.infno) for r in shown]
    led.outbox._json_functions = False            # as on an SQLite built without them
    assert led.outbox.shown_for_sale("S1") == full
