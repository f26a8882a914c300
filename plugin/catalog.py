"""What rxlane knows about a drug: the province's published dual-channel list, joined with the gateway's own
catalogue (1312: is the national code still valid) and price ceilings (1318) — docs/data-sources.md.

The list (imported with ``rxlane catalog import``, or pulled from chain HQ) gives what the gateway never sends: the
dual-channel category, the payment standard, the agreement and transition ends, the packs' code prefixes. 1312 is
synced incrementally by ``updt_time`` (paged; not the whole national catalogue every day), 1318 likewise; both are
kept in the ledger's ``catalog`` table keyed by national list code. Creating a sale never waits on the insurer.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.nhsa import catalogue as cx
from plugin.dclist import InstalledList
from plugin.dclist.model import DualChannelList
from plugin.logs import get_logger
from plugin.store import Ledger
from plugin.upstream import Upstream, insurer_data

log = get_logger("rxlane.catalog")
MAX_AGE = timedelta(days=1)
PAGE_SIZE = 100
EPOCH = "2000-01-01"


@dataclass(frozen=True)
class SyncReport:
    rows: int                         # 1312 rows received this sync
    ceilings: int                     # 1318 rows received
    differences: list[dict[str, Any]]  # list payment standard ≠ the insurer's price ceiling


class Catalog:
    def __init__(self, ledger: Ledger, upstream: Upstream, admdvs: str, data_dir: str | Path, list_file: str = ""):
        self.ledger = ledger
        self.upstream = upstream
        self.admdvs = admdvs
        self.installed = InstalledList(data_dir, list_file)
        self._lock = threading.Lock()
        self._synced: datetime | None = None   # this process's last sync, also when it brought nothing

    # -- the list ---------------------------------------------------------------------------------------------
    def dual_channel_list(self) -> DualChannelList | None:
        return self.installed.current()

    @property
    def list_known(self) -> bool:
        return self.dual_channel_list() is not None

    def entry(self, code: str, today: date | None = None) -> dict[str, Any] | None:
        """The drug as the eligibility rules read it (``plugin.eligibility.CatalogEntry`` mapping), from the
        imported list; None when the list does not have it — or when the gateway's catalogue says the national
        code is no longer valid today (then the insurer would not settle it)."""
        listed = self.dual_channel_list()
        found = listed.entry(code) if listed is not None else None
        if found is None:
            return None
        row = self.ledger.catalog.entry(code)
        if row is not None and not _valid(row, today or date.today()):
            return None
        mapping = found.to_catalog_mapping()
        if row is not None:
            mapping["hilist_name"] = row.get("hilist_name", "")
            mapping["pric_uplmt_amt"] = row.get("pric_uplmt_amt")
        return mapping

    # -- the gateway's catalogue -------------------------------------------------------------------------------
    def sync(self, full: bool = False) -> SyncReport:
        """1312 and 1318 rows updated since the newest ``updt_time`` held (all with ``full``), page by page;
        returns what came and where the list's payment standard differs from the insurer's ceiling."""
        with self._lock:
            since = EPOCH if full else (self.ledger.catalog.latest_update() or EPOCH)[:10]
            rows = self._pages("1312", lambda page: cx.catalogue_query_input(
                updt_time=since, page_num=page, page_size=PAGE_SIZE, insu_admdvs=self.admdvs), cx.parse_catalogue)
            ceilings = self._pages("1318", lambda page: cx.price_ceiling_input(
                updt_time=since, page_num=page, page_size=PAGE_SIZE, insu_admdvs=self.admdvs),
                cx.parse_price_ceilings)
            self.ledger.catalog.upsert(
                [{"med_list_codg": r.hilist_code, "hilist_name": r.hilist_name, "begndate": r.begndate,
                  "enddate": r.enddate, "vali_flag": r.vali_flag, "updt_time": r.updt_time} for r in rows],
                {c.hilist_code: None if c.hilist_pric_uplmt_amt is None else f"{c.hilist_pric_uplmt_amt:.2f}"
                 for c in ceilings})
            self._synced = datetime.now()
            return SyncReport(len(rows), len(ceilings), self.ceiling_differences())

    def _pages(self, infno: str, build: Any, parse: Any) -> list[Any]:
        out: list[Any] = []
        page = 1
        while True:
            answer = self.upstream.query(infno, build(page))
            with insurer_data(infno):
                parsed = parse(answer)
            out += parsed.rows
            if not parsed.rows or page >= parsed.pages or len(out) >= parsed.record_counts:
                return out
            page += 1

    def ceiling_differences(self) -> list[dict[str, Any]]:
        """Drugs whose imported payment standard is above the insurer's price ceiling (1318): the insurer will cut
        the price to its ceiling, so the list or the ceiling is out of date."""
        listed = self.dual_channel_list()
        if listed is None:
            return []
        out = []
        for e in listed:
            row = self.ledger.catalog.entry(e.med_list_codg)
            ceiling = (row or {}).get("pric_uplmt_amt")
            if ceiling is not None and e.payment_standard > Decimal(ceiling):
                out.append({"med_list_codg": e.med_list_codg, "generic_name": e.generic_name,
                            "payment_standard": f"{e.payment_standard:.2f}", "pric_uplmt_amt": ceiling})
        return out

    def stale(self) -> bool:
        stored = self.ledger.catalog.synced_at()
        synced = max(filter(None, (self._synced, datetime.fromisoformat(stored) if stored else None)), default=None)
        return synced is None or datetime.now() - synced > MAX_AGE

    def sync_if_stale(self) -> SyncReport | None:
        """The daily refresh (a recovery-loop round): never in a sale's path."""
        if not self.stale():
            return None
        report = self.sync()
        if report.differences:
            log.warning("payment standard above the insurer's ceiling", drugs=len(report.differences))
        return report


def _valid(row: dict[str, Any], today: date) -> bool:
    if str(row.get("vali_flag", "1")) == "0":
        return False
    end = str(row.get("enddate") or "")
    return not end or end >= today.isoformat()
