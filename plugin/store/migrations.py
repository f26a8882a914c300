"""The ledger's schema as forward-only steps (``PRAGMA user_version`` counts the steps applied).

Every table's DDL is here; every query on a table lives in that table's module of this package
(docs/developing.md, "One owner per table"). A step is SQL text, or a function of a sqlite-utils Database for steps
that reshape tables, which SQLite's ALTER TABLE cannot do alone. Never edit a published step: add one.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

MIGRATIONS: list[str | Callable[[Any], None]] = [
    # 1: the walking skeleton's books.
    """
    CREATE TABLE patients (
        patient_ref TEXT PRIMARY KEY, psn_no TEXT NOT NULL, cert_type TEXT NOT NULL, cert_no TEXT NOT NULL,
        card_sn TEXT NOT NULL DEFAULT '', person_json TEXT NOT NULL, filings_json TEXT NOT NULL,
        created_at TEXT NOT NULL);
    CREATE TABLE sales (
        id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, biz_date TEXT NOT NULL,
        state TEXT NOT NULL, patient_ref TEXT NOT NULL, psn_no TEXT NOT NULL, insutype TEXT NOT NULL,
        hi_rxno TEXT, rx_json TEXT, acct_used INTEGER NOT NULL, confirm_selfpay INTEGER NOT NULL DEFAULT 0,
        medfee_sumamt TEXT NOT NULL, setl_id TEXT, mdtrt_id TEXT, settle_msgid TEXT, setl_time TEXT,
        presettle_json TEXT, split_json TEXT, estimate_json TEXT, mismatch_json TEXT, refund_json TEXT,
        last_error_json TEXT);
    CREATE INDEX sales_by_date ON sales(biz_date);
    CREATE INDEX sales_by_state ON sales(state);
    CREATE TABLE sale_lines (
        sale_id TEXT NOT NULL REFERENCES sales(id), line_no INTEGER NOT NULL, med_list_codg TEXT NOT NULL,
        generic_name TEXT NOT NULL, drug_name TEXT NOT NULL, spec TEXT NOT NULL, category TEXT NOT NULL,
        qty TEXT NOT NULL, price TEXT NOT NULL, payment_standard TEXT NOT NULL, line_total TEXT NOT NULL,
        donated INTEGER NOT NULL, trdn_flag INTEGER NOT NULL DEFAULT 0, eligible INTEGER NOT NULL,
        reasons_json TEXT NOT NULL, PRIMARY KEY (sale_id, line_no));
    CREATE TABLE trace_codes (
        id INTEGER PRIMARY KEY, sale_id TEXT NOT NULL REFERENCES sales(id), line_no INTEGER NOT NULL,
        code TEXT NOT NULL, raw TEXT NOT NULL, kind TEXT NOT NULL, expiry TEXT, split INTEGER NOT NULL DEFAULT 0,
        released INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
    -- one sale per pack: a whole pack's code may be held by one unreleased line only (拆零 lines share codes)
    CREATE UNIQUE INDEX trace_codes_one_sale_per_pack ON trace_codes(code) WHERE released = 0 AND split = 0;
    CREATE INDEX trace_codes_by_sale ON trace_codes(sale_id);
    CREATE INDEX trace_codes_by_code ON trace_codes(code);
    CREATE TABLE journal (
        msgid TEXT PRIMARY KEY, infno TEXT NOT NULL, sale_id TEXT, body_json TEXT NOT NULL,
        state TEXT NOT NULL, answer_json TEXT, infcode INTEGER, err_msg TEXT, created_at TEXT NOT NULL,
        answered_at TEXT);
    CREATE INDEX journal_by_sale ON journal(sale_id);
    CREATE INDEX journal_by_state ON journal(state);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, infno TEXT NOT NULL, sale_id TEXT, body_json TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at TEXT NOT NULL,
        last_error TEXT, msgid TEXT, created_at TEXT NOT NULL, done_at TEXT);
    CREATE INDEX outbox_by_state ON outbox(state, next_at);
    CREATE TABLE idempotency (
        key TEXT PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, body_hash TEXT NOT NULL,
        state TEXT NOT NULL, status INTEGER, response_json TEXT, created_at TEXT NOT NULL);
    CREATE TABLE catalog (
        med_list_codg TEXT PRIMARY KEY, entry_json TEXT NOT NULL, synced_at TEXT NOT NULL);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, sale_id TEXT, detail_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
    """,
]


def _m2_split_pack_parts(db) -> None:
    """2: a 拆零 (split) sale uses part of a pack; the part is kept so the pack's remainder is known."""
    db["trace_codes"].add_column("qty", str, not_null_default="1")


MIGRATIONS.append(_m2_split_pack_parts)
MIGRATIONS.append(
    # 3: per-terminal API tokens; only the SHA-256 of a token is kept.
    """
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY, terminal TEXT NOT NULL, scopes TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL, revoked_at TEXT);
    """
)


MIGRATIONS.append(
    # 4: a returning patient reuses their row instead of adding one per identification.
    "CREATE INDEX patients_by_credential ON patients(psn_no, cert_type, cert_no, card_sn);"
)


MIGRATIONS.append(
    # 5: "split" means only the settlement split; the 拆零 flag of a pack is `trdn`, as the insurer spells it
    # (trdn_flag). RENAME COLUMN also rewrites the one-sale-per-pack partial index that reads it.
    "ALTER TABLE trace_codes RENAME COLUMN split TO trdn;"
)


MIGRATIONS.append(
    # 6: one sale per pack whatever the letter case: a GS1 serial typed with Caps Lock on ("sNq5" for "SnQ5") is
    # found among the held packs (trace_codes.py ``case_twins``) before it can be sold a second time.
    "CREATE INDEX trace_codes_by_code_nocase ON trace_codes(code COLLATE NOCASE) WHERE released = 0;"
)


MIGRATIONS.append(
    # 7: an Idempotency-Key belongs to its caller (the token, or "local" on loopback without one): one terminal's
    # key can never replay another's answer. `resource` links a claim to what its request created (the sale id), in
    # the same transaction, so a retry after a crash answers with that sale instead of making a second one. Rows
    # of the unscoped table belonged to loopback callers (tokens were needed only beyond loopback).
    """
    CREATE TABLE idempotency_scoped (
        caller TEXT NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, body_hash TEXT NOT NULL,
        state TEXT NOT NULL, status INTEGER, response_json TEXT, created_at TEXT NOT NULL, resource TEXT,
        PRIMARY KEY (caller, key));
    INSERT INTO idempotency_scoped (caller, key, method, path, body_hash, state, status, response_json, created_at)
        SELECT 'local', key, method, path, body_hash, state, status, response_json, created_at FROM idempotency;
    DROP TABLE idempotency;
    ALTER TABLE idempotency_scoped RENAME TO idempotency;
    CREATE INDEX idempotency_by_created ON idempotency(created_at);
    """
)


MIGRATIONS.append(
    # 8: the reconciliation schedule reads its own runs from the audit trail every few seconds.
    "CREATE INDEX audit_by_kind ON audit(kind, id);"
)


MIGRATIONS.append(
    # 9: the real gateway's data. A prescription is downloaded once (7203 takes a single-use authorisation) and
    # kept; a line's rules may be unknown (left to the insurer); the insurer's own settlement amounts are kept
    # beside the split shown to the patient (which adds the lines sold outside insurance).
    """
    CREATE TABLE prescriptions (
        hi_rxno TEXT PRIMARY KEY, patient_ref TEXT NOT NULL, psn_no TEXT NOT NULL, download_ide_code TEXT NOT NULL,
        rx_json TEXT NOT NULL, downloaded_at TEXT NOT NULL);
    CREATE INDEX prescriptions_by_patient ON prescriptions(patient_ref);
    ALTER TABLE sale_lines ADD COLUMN unknown_json TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE sales ADD COLUMN insurer_json TEXT;
    """
)


MIGRATIONS.append(
    # 10: uploads as the gateway takes them (docs/reconciliation.md). A sale line may carry its batch (lot, production
    # date, expiry) from the POS; what the pharmacist supplies later and who was on duty at the sale are kept per
    # sale; outbox rows run in order within a chain (3505 before 3506, 7204 before 7206) and say why they wait or
    # were parked; the counter's on-duty pharmacists; the store's stock batches per drug.
    """
    ALTER TABLE sale_lines ADD COLUMN lot TEXT;
    ALTER TABLE sale_lines ADD COLUMN manu_date TEXT;
    ALTER TABLE sale_lines ADD COLUMN expy_end TEXT;
    ALTER TABLE outbox ADD COLUMN chain TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN reason TEXT;
    CREATE INDEX outbox_by_sale ON outbox(sale_id, chain);
    CREATE INDEX outbox_by_done ON outbox(state, done_at);
    CREATE INDEX idempotency_by_age ON idempotency(created_at);
    CREATE INDEX journal_by_age ON journal(created_at);
    CREATE TABLE upload_facts (
        sale_id TEXT NOT NULL, line_no INTEGER NOT NULL, facts_json TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (sale_id, line_no));
    CREATE TABLE duty (role TEXT PRIMARY KEY, staff_json TEXT NOT NULL, since TEXT NOT NULL);
    CREATE TABLE stock (
        id INTEGER PRIMARY KEY, med_list_codg TEXT NOT NULL, lot TEXT NOT NULL, manu_date TEXT NOT NULL,
        expy_end TEXT NOT NULL, bchno TEXT NOT NULL DEFAULT '', prdr_name TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL, retired_at TEXT);
    CREATE INDEX stock_by_drug ON stock(med_list_codg, retired_at);
    """
)


MIGRATIONS.append(
    # 11: what health names of the outbox (parked and waiting rows, refusals first, newest first) from an index that
    # holds only those rows: without it health read every unfinished row, and past 10,000 missed the newest refusal.
    # plugin/store/outbox.py `problems` repeats these literals, which the index needs.
    """
    CREATE INDEX outbox_problems ON outbox(reason IS NOT 'UPLOAD_REFUSED', id DESC)
        WHERE state IN ('parked', 'waiting');
    """
)


MIGRATIONS.append(
    # 12: the sale lookups the counter makes on every flow, by prescription (is it already dispensed?), by the
    # slip's setl_id (a refund), by person (this year's settlements) and by the insurer's settlement day (the daily
    # reconciliation): without these they scanned every settled sale — 126 ms each on a ledger of 100,000 sales,
    # twice per counter flow.
    """
    CREATE INDEX sales_by_rxno ON sales(hi_rxno) WHERE hi_rxno IS NOT NULL;
    CREATE INDEX sales_by_setl_id ON sales(setl_id) WHERE setl_id IS NOT NULL;
    CREATE INDEX sales_by_setl_time ON sales(setl_time) WHERE setl_time IS NOT NULL;
    CREATE INDEX sales_by_person ON sales(psn_no, state);
    """
)
