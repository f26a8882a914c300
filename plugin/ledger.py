"""Compatibility name for the books: the ledger now lives in the ``plugin.store`` package (one module per table)."""
from plugin.store import Ledger, LedgerError, dumps, now  # noqa: F401
