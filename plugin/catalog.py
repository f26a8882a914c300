"""Local cache of the insurer's dual-channel catalogue (1312), refreshed daily and on demand.

Creating a sale must not wait on the insurer for every line, and the counter keeps working through a short outage
with yesterday's catalogue; `rxlane catalog sync` forces a refresh after the insurer publishes a change.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from plugin.ledger import Ledger
from plugin.upstream import Upstream

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
                out = self.upstream.query("1312", {"data": {
                    "hilist_code": "", "insu_admdvs": self.admdvs, "updt_time": "2000-01-01 00:00:00",
                    "page_num": page, "page_size": PAGE_SIZE}})
                rows = out.get("data") or out.get("list") or []
                entries.extend(_entry(r) for r in rows)
                total = int(out.get("recordCounts") or out.get("total") or len(entries))
                if not rows or len(entries) >= total:
                    break
                page += 1
            self.ledger.replace_catalog(entries)
            return len(entries)

    def stale(self) -> bool:
        synced = self.ledger.catalog_synced_at()
        return synced is None or datetime.now() - datetime.fromisoformat(synced) > MAX_AGE

    def entry(self, code: str) -> dict | None:
        found = self.ledger.catalog_entry(code)
        if found is None or self.stale():
            try:
                self.sync()
            except Exception:
                if found is None and self.ledger.catalog_synced_at() is None:
                    raise
            found = self.ledger.catalog_entry(code)
        return found


def _entry(row: dict) -> dict:
    """1312 row (insurer spelling plus the sandbox's dual-channel fields) → the CatalogEntry mapping."""
    return {
        "med_list_codg": row.get("hilist_code") or row.get("med_list_codg"),
        "generic_name": row.get("drug_genname") or row.get("generic_name") or "",
        "drug_name": row.get("hilist_name") or row.get("drug_name") or "",
        "spec": row.get("spec") or row.get("drug_spec") or "",
        "category": row.get("dual_channel_category") or row.get("category") or "",
        "payment_standard": str(row.get("payment_standard") or "0"),
        "agreement_end": row.get("agreement_end") or None,
        "transition_end": row.get("transition_end") or None,
        "trace_prefixes": list(row.get("trace_prefixes") or []),
        "gtins": list(row.get("gtins") or []),
        "split_units": row.get("split_units") or None,
    }
