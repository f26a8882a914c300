"""The pharmacy's books: one SQLite file, the only module that writes SQL.

WAL with ``synchronous=FULL`` because a counter PC loses power: a journal row that says a settlement was sent must
survive it (DESIGN §5, journal before send). The schema is versioned (``PRAGMA user_version``) and migrated forward
at open. Money is stored as TEXT decimal strings so no float ever touches it.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import zlib
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

from plugin.errors import RxlaneError


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def pack(value: Any) -> bytes:
    """Journal bodies are written once and read only in a dispute: zlib keeps them at a fifth of their size."""
    return zlib.compress(_json(value).encode("utf-8"), 6)


def unpack(stored: bytes | str | None) -> Any:
    if stored is None:
        return None
    return json.loads(zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored)


def now() -> str:
    return datetime.now().isoformat(sep=" ", timespec="seconds")


#: Forward-only schema steps: SQL text, or a function of a sqlite-utils Database for steps that reshape tables
#: (`add_column`, `transform`), which SQLite's ALTER TABLE cannot do alone.
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


class LedgerError(RxlaneError):
    def __init__(self, message: str):
        super().__init__("INTERNAL", f"ledger: {message}", "本地账本错误，请联系技术支持。")


class Ledger:
    """One connection shared by the service's threads, serialised by a lock; transactions are explicit."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        self.conn = conn
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise LedgerError(f"{self.path} was written by a newer rxlane (schema {version})")
            pending = MIGRATIONS[version:]
            if not pending:
                return
            import sqlite_utils   # only when the schema moves: a normal start does not pay for it
            db = sqlite_utils.Database(self.conn)
            for number, step in enumerate(pending, start=version + 1):
                if isinstance(step, str):
                    self.conn.executescript(f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version={number};\nCOMMIT;")
                    continue
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    step(db)
                    self.conn.execute(f"PRAGMA user_version={number}")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT: all or nothing, so no half-written sale survives an error or a crash.

        `durable=False` commits without its own fsync (synchronous=NORMAL) for rows whose loss in a power cut is
        harmless (a patient lookup, a draft, a pre-settlement, an upload's answer that will simply be asked
        again). WAL is sequential, so the next durable commit's fsync persists them too; money never uses it."""
        with self._lock:
            if not durable:
                self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
            finally:
                if not durable:
                    self.conn.execute("PRAGMA synchronous=FULL")

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def healthy(self) -> bool:
        """A cheap probe for `/v1/health` (it is polled); the full check is `integrity_ok`."""
        try:
            return self.query_one("SELECT count(*) FROM sqlite_master")[0] > 0
        except sqlite3.Error:
            return False

    def integrity_ok(self) -> bool:
        """PRAGMA quick_check: seconds on a large ledger, so only for `rxlane doctor`."""
        try:
            return self.query_one("PRAGMA quick_check")[0] == "ok"
        except sqlite3.Error:
            return False

    # -- patients -------------------------------------------------------------------------------------------
    def save_patient(self, ref: str, psn_no: str, cert_type: str, cert_no: str, card_sn: str,
                     person: dict, filings: list) -> str:
        """One row per person and credential, refreshed at each identification (balance, year-to-date, filings);
        returns the patient_ref to use — the existing one when the patient was identified before."""
        with self.transaction(durable=False) as c:
            row = c.execute("SELECT patient_ref FROM patients WHERE psn_no = ? AND cert_type = ? AND cert_no = ? "
                            "AND card_sn = ?", (psn_no, cert_type, cert_no, card_sn)).fetchone()
            if row is not None:
                c.execute("UPDATE patients SET person_json = ?, filings_json = ? WHERE patient_ref = ?",
                          (_json(person), _json(filings), row[0]))
                return row[0]
            c.execute("INSERT INTO patients VALUES (?,?,?,?,?,?,?,?)",
                      (ref, psn_no, cert_type, cert_no, card_sn, _json(person), _json(filings), now()))
            return ref

    def patient(self, ref: str) -> sqlite3.Row | None:
        return self.query_one("SELECT * FROM patients WHERE patient_ref = ?", (ref,))

    # -- journal: every upstream message that moves money or reports, committed before it leaves -------------
    def journal_request(self, msgid: str, infno: str, body: dict, sale_id: str | None,
                        conn: sqlite3.Connection | None = None, *, retry: bool = False) -> None:
        """`retry`: an outbox message sent again under its msgid keeps its first journal row."""
        sql = (f"INSERT {'OR IGNORE ' if retry else ''}INTO journal (msgid, infno, sale_id, body_json, state, "
               "created_at) VALUES (?,?,?,?,?,?)")
        args = (msgid, infno, sale_id, pack(body), "sent", now())
        if conn is not None:
            conn.execute(sql, args)
        else:
            with self.transaction() as c:
                c.execute(sql, args)

    def journal_answer(self, msgid: str, state: str, *, answer: dict | None = None, infcode: int | None = None,
                       err_msg: str | None = None, conn: sqlite3.Connection | None = None) -> None:
        sql = ("UPDATE journal SET state = ?, answer_json = ?, infcode = ?, err_msg = ?, answered_at = ? "
               "WHERE msgid = ?")
        args = (state, pack(answer) if answer is not None else None, infcode, err_msg, now(), msgid)
        if conn is not None:
            conn.execute(sql, args)
        else:
            with self.transaction() as c:
                c.execute(sql, args)

    def journal_message(self, msgid: str) -> dict | None:
        """A journaled message with its request and answer bodies, for support and disputes."""
        row = self.journal_entry(msgid)
        if row is None:
            return None
        return {**{k: row[k] for k in row.keys() if k not in ("body_json", "answer_json")},
                "body": unpack(row["body_json"]), "answer": unpack(row["answer_json"])}

    def journal_for(self, sale_id: str) -> list[dict]:
        rows = self.query("SELECT msgid, infno, state, infcode, err_msg, created_at, answered_at FROM journal "
                          "WHERE sale_id = ? ORDER BY created_at, msgid", (sale_id,))
        return [dict(r) for r in rows]

    def journal_entry(self, msgid: str) -> sqlite3.Row | None:
        return self.query_one("SELECT * FROM journal WHERE msgid = ?", (msgid,))

    def newest_msgid(self) -> str | None:
        row = self.query_one("SELECT max(msgid) FROM journal")
        return row[0] if row else None

    # -- audit: append-only and hash-chained so tampering shows ---------------------------------------------
    def audit(self, kind: str, sale_id: str | None, detail: dict, conn: sqlite3.Connection | None = None) -> None:
        def write(c: sqlite3.Connection) -> None:
            prev = c.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = prev[0] if prev else "0" * 64
            at = now()
            body = _json(detail)
            digest = hashlib.sha256(f"{prev_hash}|{at}|{kind}|{sale_id or ''}|{body}".encode()).hexdigest()
            c.execute("INSERT INTO audit (at, kind, sale_id, detail_json, prev_hash, hash) VALUES (?,?,?,?,?,?)",
                      (at, kind, sale_id, body, prev_hash, digest))
        if conn is not None:
            write(conn)
        else:
            with self.transaction() as c:
                write(c)

    def verify_audit(self) -> tuple[bool, int, int | None]:
        """(ok, rows checked, first bad row id)."""
        prev_hash = "0" * 64
        rows = self.query("SELECT * FROM audit ORDER BY id")
        for row in rows:
            expect = hashlib.sha256(
                f"{prev_hash}|{row['at']}|{row['kind']}|{row['sale_id'] or ''}|{row['detail_json']}".encode()
            ).hexdigest()
            if row["prev_hash"] != prev_hash or row["hash"] != expect:
                return False, len(rows), row["id"]
            prev_hash = row["hash"]
        return True, len(rows), None

    # -- idempotency ----------------------------------------------------------------------------------------
    def idempotency_begin(self, key: str, method: str, path: str, body_hash: str) -> sqlite3.Row | None:
        """Claim the key; return the existing row if it was claimed before (then nothing is written). A claim lost
        in a power cut is harmless: unfinished claims are forgotten at start-up anyway."""
        with self.transaction(durable=False) as c:
            row = c.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return row
            c.execute("INSERT INTO idempotency (key, method, path, body_hash, state, created_at) "
                      "VALUES (?,?,?,?,?,?)", (key, method, path, body_hash, "in_progress", now()))
            return None

    def idempotency_finish(self, key: str, status: int, response: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE idempotency SET state = 'done', status = ?, response_json = ? WHERE key = ?",
                      (status, response, key))

    def idempotency_forget(self, key: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM idempotency WHERE key = ? AND state = 'in_progress'", (key,))

    def idempotency_forget_unfinished(self) -> int:
        with self.transaction() as c:
            return c.execute("DELETE FROM idempotency WHERE state = 'in_progress'").rowcount

    def idempotency_row(self, key: str) -> sqlite3.Row | None:
        return self.query_one("SELECT * FROM idempotency WHERE key = ?", (key,))

    # -- catalog cache --------------------------------------------------------------------------------------
    def replace_catalog(self, entries: list[dict]) -> None:
        stamp = now()
        with self.transaction(durable=False) as c:
            c.execute("DELETE FROM catalog")
            c.executemany("INSERT INTO catalog VALUES (?,?,?)",
                          [(e["med_list_codg"], _json(e), stamp) for e in entries])

    def catalog_entry(self, code: str) -> dict | None:
        row = self.query_one("SELECT entry_json FROM catalog WHERE med_list_codg = ?", (code,))
        return json.loads(row[0]) if row else None

    def catalog_synced_at(self) -> str | None:
        row = self.query_one("SELECT max(synced_at) FROM catalog")
        return row[0] if row else None

    def catalog_entries(self) -> list[dict]:
        return [json.loads(r[0]) for r in self.query("SELECT entry_json FROM catalog ORDER BY med_list_codg")]


dumps = _json
