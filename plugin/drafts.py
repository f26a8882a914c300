"""Unsettled sales at the counter: find the open one for a prescription or a patient, let the patient keep the
personal account out of a sale, and cancel drafts nobody came back to, so their packs are free again.

A page reload, a new patient scanned mid-sale, a patient who walks away: each leaves a draft that holds its packs,
and the next sale of the same box is then refused as "already sold". The counter page resumes the open draft when
the same prescription is chosen again (``open_sales``), asks before switching patient, offers to release a pack a
draft holds (plugin/packs.py says so in the refusal), and a background round (plugin/service.py ``background_rounds``)
cancels drafts untouched for ``[store] draft_expiry_minutes`` with the CANCEL move of plugin/sale.py — nothing was
charged for them, and the cancellation releases their packs.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from plugin.errors import InvalidInput, RxlaneError
from plugin.patients import unknown_ref
from plugin.sale import Sale, SaleEvent, allowed_from
from plugin.sales import SaleService
from plugin.store import Ledger

log = logging.getLogger("rxlane.drafts")

#: States of a sale that was never settled and may still be changed or cancelled (draft, presettled, reversed).
OPEN_STATES = tuple(s.value for s in allowed_from(SaleEvent.CANCEL))


def open_sales(ledger: Ledger, *, patient_ref: str | None = None, hi_rxno: str | None = None) -> list[Sale]:
    """The unsettled sales of this patient (any identification of the same person) and/or for this prescription,
    newest first. ``PATIENT_NOT_FOUND`` for an unknown patient_ref; ``INVALID_INPUT`` when neither is given."""
    if not patient_ref and not hi_rxno:
        raise InvalidInput("Give patient_ref or hi_rxno.", "请提供 patient_ref 或 hi_rxno。", field="patient_ref")
    psn_no = None
    if patient_ref:
        row = ledger.patients.get(patient_ref)
        if row is None:
            raise unknown_ref(patient_ref)
        psn_no = row.psn_no
    return ledger.sales.open_ones(OPEN_STATES, psn_no=psn_no, hi_rxno=hi_rxno or None)


def set_account(sales: SaleService, sale_id: str, acct_used: bool) -> None:
    """Use the personal account for this sale or not. Only an unsettled sale changes (INVALID_STATE otherwise);
    a pre-settlement made with the other choice is cleared, since its split no longer holds. Refused with
    ``ACCOUNT_REQUIRED`` where the region's rules pay the personal part from the account first."""
    if not acct_used and not sales.policy.account_optional:
        raise account_required(sales.policy.name)
    with sales.lock(sale_id):
        with sales.ledger.transaction(durable=False) as c:
            sales.ledger.sales.move(c, sale_id, SaleEvent.EDIT, acct_used=acct_used, presettle=None)


def account_required(region_name: str) -> RxlaneError:
    return RxlaneError("ACCOUNT_REQUIRED", details={"region": region_name})


def expire(sales: SaleService, now: datetime, minutes: int) -> list[str]:
    """Cancel the open sales untouched for ``minutes`` (0: never); returns their ids. A sale changed meanwhile
    (another pack scanned while this round ran) is left alone."""
    if minutes <= 0:
        return []
    cutoff = (now - timedelta(minutes=minutes)).isoformat(sep=" ", timespec="seconds")
    expired = []
    for sale_id in sales.ledger.sales.untouched_since(OPEN_STATES, cutoff):
        with sales.lock(sale_id):
            sale = sales.ledger.sales.get(sale_id)
            if sale.state.value not in OPEN_STATES or sale.updated_at >= cutoff:
                continue
            sales.cancel(sale_id)
            sales.ledger.audit.append("draft_expired", sale_id, {"state": sale.state.value,
                                                                 "untouched_since": sale.updated_at})
        expired.append(sale_id)
    if expired:
        log.info("cancelled %d draft(s) untouched for %d minutes; their packs are free again", len(expired), minutes)
    return expired
