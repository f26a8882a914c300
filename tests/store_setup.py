"""What a test store sets up once, with no side effect on import (the benchmarks use it too, without the test
suite's logging): its pharmacists, and the duty and stock that let uploads leave (docs/reconciliation.md)."""
from __future__ import annotations

from typing import Any

#: The test store's pharmacists (docs/reconciliation.md): the uploads after a sale name who was on duty.
PHARMACISTS = [{"name": "李志强", "certno": "360103198507091013", "prac_cert_no": "ZY3601202100123"},
               {"name": "陈立", "certno": "360111199001011236", "prac_cert_no": "ZY3601202100456"}]


def ready_for_uploads(svc: Any) -> None:
    """What a store sets up once so that uploads leave without asking (docs/reconciliation.md): its pharmacists on
    duty at this counter, and a batch on the shelf for each drug of its list (lot, dates, manufacturer)."""
    from plugin import duty, stock
    if not svc.settings.pharmacists or svc.ledger.duty.current():
        return
    roster = svc.settings.pharmacists
    duty.change(svc.ledger, roster, {"pharmacist": roster[0].prac_cert_no,
                                     "checker": roster[min(1, len(roster) - 1)].prac_cert_no})
    listed = svc.catalog.dual_channel_list()
    for entry in listed.entries if listed is not None else ():
        stock.add(svc.ledger, med_list_codg=entry.med_list_codg, lot="B2409117", manu_date="2024-09-11",
                  expy_end="2029-08-31", prdr_name="示例制药有限公司")
