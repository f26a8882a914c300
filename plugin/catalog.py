"""Local cache of the insurer's dual-channel catalogue (1312), refreshed daily and on demand.

Creating a sale must not wait on the insurer for every line, and the counter keeps working through a short outage
with yesterday's catalogue; `rxlane catalog sync` forces a refresh after the insurer publishes a change.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from adapters.nhsa import transactions as tx
from plugin import eligibility as rules
from adapters.nhsa.errors import GatewayProtocolError
from plugin.errors import InvalidInput
from plugin.logs import get_logger
from plugin.store import Ledger
from plugin.upstream import Upstream, insurer_data

log = get_logger("rxlane.catalog")
MAX_AGE = timedelta(days=1)
PAGE_SIZE = 100


class Catalog:
    def __init__(self, ledger: Ledger, upstream: Upstream, admdvs: str):
        self.ledger = ledger
        self.upstream = upstream
        self.admdvs = admdvs
        self._lock = threading.Lock()

    def sync(self) -> int:
        """Fetch every page of 1312 and replace the cache in one transaction; returns the entry count."""
        with self._lock:
            entries: list[dict] = []
            page = 1
            while True:
                out = self.upstream.query("1312", tx.catalog_query_input(page, PAGE_SIZE, insu_admdvs=self.admdvs))
                with insurer_data("1312"):
                    parsed = tx.parse_catalog(out)
                for row in parsed.rows:
                    try:
                        entry = _entry(row)
                        rules.CatalogEntry.from_mapping(entry)
                    except (InvalidInput, GatewayProtocolError):
                        # one malformed row must not take the whole catalogue down: that drug stays unknown
                        log.warning("skipped malformed catalogue row", med_list_codg=str(row.hilist_code)[:40])
                        continue
                    entries.append(entry)
                if not parsed.rows or len(entries) >= parsed.record_counts:
                    break
                page += 1
            self.ledger.catalog.replace(entries)
            return len(entries)

    def stale(self) -> bool:
        synced = self.ledger.catalog.synced_at()
        return synced is None or datetime.now() - datetime.fromisoformat(synced) > MAX_AGE

    def entry(self, code: str) -> dict | None:
        found = self.ledger.catalog.entry(code)
        if found is None or self.stale():
            try:
                self.sync()
            except Exception:
                if found is None and self.ledger.catalog.synced_at() is None:
                    raise
            found = self.ledger.catalog.entry(code)
        return found


def _entry(row: tx.CatalogRow) -> dict:
    """1312 row (insurer spelling plus the sandbox's dual-channel fields) → the CatalogEntry mapping."""
    return {
        "med_list_codg": row.hilist_code, "generic_name": row.drug_genname, "drug_name": row.hilist_name,
        "spec": row.spec, "category": row.dual_channel_category, "payment_standard": str(row.payment_standard),
        "agreement_end": row.agreement_end or None, "transition_end": row.transition_end or None,
        "trace_prefixes": list(row.trace_prefixes), "gtins": list(row.gtins), "split_units": row.split_units,
    }
