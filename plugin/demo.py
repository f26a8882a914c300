"""The demo's dual-channel list: with the embedded sandbox and its demo books, the counter needs what a real store
imports from its province (docs/data-sources.md) — the demo drugs' categories, payment standards and agreement
dates, equal to what the sandbox insurer adjudicates with. Installed once; an imported list is never replaced.
The demo books are Jiangxi's: a store configured for a region whose categories differ gets no demo list (its
drugs are then NOT_IN_CATALOG until the province's list is imported with `rxlane catalog import`)."""
from __future__ import annotations

import logging
from datetime import date

from adapters.sandbox.demo import demo_list_csv
from plugin.dclist import ListRefused, install_document, installed_path, load_region_mapping, read_province_file

log = logging.getLogger("rxlane.catalog")


def install_demo_list(svc, today: date | None = None) -> bool:
    """Install the demo list into the service's data dir unless a list is installed; True when it did."""
    from plugin.service import data_dir
    target = installed_path(data_dir(svc.settings), svc.settings.catalog.list_file)
    if target.exists():
        return False
    try:
        imported = read_province_file(demo_list_csv(today or date.today()), "demo-dual-channel-list.csv",
                                      mapping=load_region_mapping(""), categories=set(svc.policy.categories),
                                      source="演示数据（沙箱）", region=svc.policy.region)
    except ListRefused as exc:
        log.warning("the demo dual-channel list does not fit region %s (%s); import the province's list",
                    svc.policy.region, exc.message)
        return False
    install_document(target, imported.document)
    return True
