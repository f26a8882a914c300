"""The pharmacy's books: one SQLite file, and one module per table holding all of that table's SQL.

    db.py            the connection, transactions, migrations runner, JSON/zlib column helpers
    files.py         the file on disk: permissions, header, atomic creation, deletion noticed, backup, restore
    migrations.py    every table's DDL, as forward-only steps
    sales.py         sales + sale_lines (a sale and its lines are one aggregate), and the state moves
    trace_codes.py   the packs on sale lines (one sale per pack)
    journal.py       insurer messages, committed before they leave
    outbox.py        uploads retried until delivered
    idempotency.py   the first answer to each Idempotency-Key
    patients.py      identified patients (the unmasked credential stays here)
    prescriptions.py circulated prescriptions, downloaded once
    catalog.py       the local copy of the insurer's catalogue
    audit.py         the append-only, hash-chained audit trail
    tokens.py        per-terminal API token hashes
    upload_facts.py  what a sale's uploads need beyond the sale: who was on duty, details supplied later
    duty.py          who is on duty at this counter (pharmacist, checking pharmacist)
    stock.py         the store's batches per drug (lot, production date, expiry)

No module outside this package writes SQL (docs/developing.md, "One owner per table"); a test holds the rule.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from plugin.errors import LedgerFault
from plugin.store.audit import AuditTrail
from plugin.store.catalog import CatalogTable
from plugin.store.db import Connection, Database, LedgerError, Row, dumps, loads, now, pack, unpack
from plugin.store.duty import DutyTable
from plugin.store.idempotency import IdempotencyTable
from plugin.store.journal import Journal
from plugin.store.outbox import OutboxRow, OutboxTable
from plugin.store.patients import PatientRow, PatientsTable
from plugin.store.prescriptions import PrescriptionsTable
from plugin.store.sales import SalesTable
from plugin.store.stock import StockTable
from plugin.store.tokens import TokensTable
from plugin.store.trace_codes import TraceCodesTable
from plugin.store.upload_facts import UploadFactsTable

__all__ = ["Ledger", "LedgerError", "Connection", "Row", "OutboxRow", "PatientRow", "dumps", "loads",
           "now", "pack", "unpack"]


class Ledger:
    """The books as one object: ``ledger.sales``, ``ledger.journal``, … each a table module bound to one
    ``Database``. Multi-table changes run in ``ledger.transaction()`` and pass its connection to each table."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.db = Database(path, read_only=read_only)
        self.sales = SalesTable(self.db)
        self.trace_codes = TraceCodesTable(self.db)
        self.journal = Journal(self.db)
        self.outbox = OutboxTable(self.db)
        self.idempotency = IdempotencyTable(self.db)
        self.patients = PatientsTable(self.db)
        self.prescriptions = PrescriptionsTable(self.db)
        self.catalog = CatalogTable(self.db)
        self.audit = AuditTrail(self.db)
        self.tokens = TokensTable(self.db)
        self.upload_facts = UploadFactsTable(self.db)
        self.duty = DutyTable(self.db)
        self.stock = StockTable(self.db)

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def conn(self) -> Connection:
        return self.db.conn

    @property
    def schema_version(self) -> int:
        return self.db.schema_version

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Connection]:
        with self.db.transaction(durable) as c:
            yield c

    def healthy(self) -> bool:
        return self.db.healthy()

    def integrity_ok(self) -> bool:
        return self.db.integrity_ok()

    @property
    def fault(self) -> LedgerFault | None:
        """Set for good when the file was found damaged or deleted under the process: money stops."""
        return self.db.fault

    def check_files(self) -> LedgerFault | None:
        return self.db.check_files()

    def checkpoint(self) -> None:
        self.db.checkpoint()

    def write_failed_recently(self) -> LedgerFault | None:
        return self.db.write_failed_recently()

    def close(self) -> None:
        self.db.close()

    # -- ad-hoc reads, for tests and support tools; product code goes through the table modules ---------------
    def query(self, sql: str, params: Any = ()) -> list[Row]:
        return self.db.read(sql, params)

    def query_one(self, sql: str, params: Any = ()) -> Row | None:
        return self.db.read_one(sql, params)
