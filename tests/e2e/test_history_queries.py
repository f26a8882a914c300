"""The counter's time must not grow with the store's history: every statement a counter day runs reads the tables
that grow (sales, lines, packs, journal, outbox, patients…) through an index, never by scanning them.

Found by the flow bench on a ledger of 100,000 sales (bench/README.md): "is this prescription already dispensed?"
read every settled sale through the state index, 126 ms each time, twice per flow — the counter's own time went from
18 ms to 285 ms — and the slip's refund lookup by ``setl_id`` scanned the table. A whole day runs through the POS API
(identify, prescriptions, sale, presettle, settle, uploads, the slip's lookup, a refund, health, open sales, the
day's list and its reconciliation) and is watched at SQLite's own seams: every statement (``set_trace_callback``) is
asked for its plan (``EXPLAIN QUERY PLAN``), and the day's work is counted in SQLite virtual-machine steps
(``set_progress_handler``) before and after thousands of other sales join the history. The plan test names the
statement; the step count also catches a search through an index that does not narrow (``state = 'settled'`` holds
nearly every sale).
"""
from __future__ import annotations

import re
import threading
from datetime import date

from bench.bench_footprint import clone_sales
from tests.e2e.conftest import LIU, RX_LIU_SEC, RX_ZHANG_OSI, SECUKINUMAB, fresh_prescription, identify, new_sale

#: Tables that grow with every sale. The catalogue, duty roster, stock batches, tokens and settings do not.
GROWING = ("sales", "sale_lines", "trace_codes", "journal", "outbox", "patients", "prescriptions", "audit",
           "idempotency", "upload_facts")
_SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?( USING (?:COVERING )?INDEX \w+)?")
#: Scans that stop after a few rows whatever the history: the plan walks an order and the LIMIT ends it.
_BOUNDED = {
    "SELECT hash FROM audit ORDER BY id DESC LIMIT 1": "the audit chain's newest row, read from the end of rowid order",
    "INDEXED BY outbox_problems": "health's problems: a partial index holding only parked and waiting rows, LIMIT 20",
}


#: Sales another patient made before today, cloned through the ledger (bench/bench_footprint.py) — enough that one
#: scan of them costs more VM steps than the whole day.
HISTORY = 3000
#: Per SQLite's progress handler, one call every this many VM steps.
STEP = 100


def _statements(svc, run) -> list[str]:
    seen: list[str] = []
    lock = threading.Lock()

    def trace(sql: str) -> None:
        with lock:
            seen.append(sql)

    conn = svc.ledger.db.conn
    conn.set_trace_callback(trace)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return list(dict.fromkeys(s.strip() for s in seen))


def _scans(svc, statement: str) -> list[str]:
    """The plan lines of ``statement`` that read a growing table from end to end."""
    if not statement.upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
        return []
    if any(mark in statement for mark in _BOUNDED):
        return []
    plan = [row[3] for row in svc.ledger.db.read("EXPLAIN QUERY PLAN " + statement)]
    return [line for line in plan if (m := _SCAN.match(line)) and m.group(1) in GROWING]


def _day(svc, http, hi_rxno: str) -> None:
    ref = identify(http)["patient_ref"]
    sale = new_sale(http, ref, rx=hi_rxno)
    assert http.post(f"/v1/sales/{sale['id']}/presettle").status_code == 200
    settled = http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert settled["state"] == "settled", settled
    svc.outbox.drain()
    assert http.get(f"/v1/sales?setl_id={settled['setl_id']}").json()["sales"]
    assert http.get(f"/v1/sales/{sale['id']}").status_code == 200
    assert http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "test"}).status_code == 200
    svc.outbox.drain()
    assert http.get("/v1/health").status_code == 200
    assert http.get("/v1/sales/open", params={"patient_ref": ref}).status_code == 200
    assert http.get("/v1/sales/open", params={"hi_rxno": hi_rxno}).status_code == 200
    assert http.get("/v1/sales", params={"date": date.today().isoformat()}).status_code == 200
    assert http.post("/v1/reconciliation", {"date": date.today().isoformat()}).status_code == 200


def _vm_steps(svc, run) -> int:
    """SQLite virtual-machine steps (in units of STEP) the ledger's connection runs during ``run``."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0     # 0: go on

    conn = svc.ledger.db.conn
    conn.set_progress_handler(tick, STEP)
    try:
        run()
    finally:
        conn.set_progress_handler(None, STEP)
    return count[0]


def _another_patients_sale(svc, http) -> str:
    """A settled sale of 刘洋's, the one the history is cloned from (never the patient or prescription of the day)."""
    liu = identify(http, LIU)["patient_ref"]
    template = new_sale(http, liu, med=SECUKINUMAB, price="598.00", rx=RX_LIU_SEC)
    assert http.post(f"/v1/sales/{template['id']}/settle").json()["state"] == "settled"
    svc.outbox.drain()
    return template["id"]


def test_a_counter_day_costs_the_same_after_thousands_of_sales(rx, sandbox_http):
    svc, http = rx
    template = _another_patients_sale(svc, http)
    fresh = _vm_steps(svc, lambda: _day(svc, http, RX_ZHANG_OSI))

    clone_sales(svc.ledger.path, template, HISTORY)
    later = _vm_steps(svc, lambda: _day(svc, http, fresh_prescription(sandbox_http)))

    # a day's own work is a few thousand steps; one pass over 3,000 sales would add more than that again
    assert later < fresh * 1.5, f"{fresh * STEP} VM steps on a new ledger, {later * STEP} with {HISTORY} more sales"


def test_a_counter_day_reads_no_growing_table_end_to_end(rx, sandbox_http):
    svc, http = rx

    statements = _statements(svc, lambda: _day(svc, http, RX_ZHANG_OSI))
    assert len(statements) > 40     # the whole day was seen, not just its start
    scanning = {s: scans for s in statements if (scans := _scans(svc, s))}
    assert not scanning, "\n".join(f"{s}\n    → {'; '.join(v)}" for s, v in scanning.items())


def test_a_recovery_round_costs_the_same_after_thousands_of_sales(rx):
    """The background round (every few seconds: the ledger's files, stranded and in-doubt sales, the outbox, and the
    service's chores — the catalogue's age, expired drafts, checkpoints, idempotency keys; the daily reconciliation
    and retention when their hour has come) must not read the whole history on each pass either. Each count runs a
    round with fresh ``background_rounds``, so the timed chores are all due, after a first round has synced the
    catalogue; the reconciliation itself is in the counter day above."""
    svc, http = rx
    template = _another_patients_sale(svc, http)
    svc.recovery.set_rounds(svc.background_rounds())
    svc.recovery.run_once()

    def round_with_every_chore_due() -> None:
        svc.recovery.set_rounds(svc.background_rounds())
        svc.recovery.run_once()

    fresh = _vm_steps(svc, round_with_every_chore_due)
    clone_sales(svc.ledger.path, template, HISTORY)
    later = _vm_steps(svc, round_with_every_chore_due)
    assert later <= fresh * 1.5 + 5, f"{fresh * STEP} VM steps a round on a new ledger, {later * STEP} after {HISTORY}"
