"""Uploads that follow a settlement (3505 sale, 3506 return, 7206 dispensing result) with retries across restarts.

The patient is done once settled; the uploads must still reach the insurer. Each row keeps one msgid for all its
attempts, so a retry after a lost answer is recognised by the insurer as the same message, not a second sale.
A message the insurer refuses is parked with the insurer's reason and shown in health — never dropped.
"""
from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta
from typing import Any

from adapters.nhsa import uploads as tx
from plugin.crashpoints import crash_point
from plugin.errors import RxlaneError, UpstreamRefused
from plugin.exchange import Exchange, OutcomeUnknown
from plugin.retry import OUTBOX, RetryPolicy
from plugin.store import Connection, Ledger, now
from plugin.store.journal import REFUSED, UNSENT
from plugin.store.outbox import PARKED, PENDING, OutboxRow
from plugin.upstream import Upstream

CODES_PER_MESSAGE = 100   # the traceability platform takes at most 100 codes per call


class Outbox:
    def __init__(self, ledger: Ledger, upstream: Upstream, *, opter: str = "", opter_name: str = "",
                 retry: RetryPolicy = OUTBOX, rng: random.Random | None = None,
                 upload_kinds: tuple[str, ...] | None = None):
        self.ledger = ledger
        self.upload_kinds = upload_kinds   # pack kinds the gateway takes (plugin/packs.py uploaded_kinds); None: all
        self.exchange = Exchange(ledger, upstream)
        self.store_opter = opter
        self.store_opter_name = opter_name
        self.retry_policy = retry
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def depth(self) -> dict[str, Any]:
        pending, oldest, parked = self.ledger.outbox.depth()
        oldest_age = None
        if oldest:
            oldest_age = int((datetime.now() - datetime.fromisoformat(oldest)).total_seconds())
        return {"pending": pending, "parked": parked, "oldest_age_s": oldest_age}

    def rows(self, state: str | None = None) -> list[dict[str, Any]]:
        return [{"id": r.id, "infno": r.infno, "sale_id": r.sale_id, "state": r.state, "attempts": r.attempts,
                 "next_at": r.next_at, "last_error": r.last_error, "msgid": r.msgid, "created_at": r.created_at}
                for r in self.ledger.outbox.rows(state)]

    def retry(self, row_id: int | None = None) -> int:
        """Make parked or waiting rows due now (`rxlane outbox --retry`)."""
        return self.ledger.outbox.make_due(row_id)

    def drain(self, batch: int = 50, max_rounds: int = 100) -> int:
        """Send due rows until none is left (each row once per call); returns how many were delivered."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            delivered, tried = 0, set()
            for _ in range(max_rounds):
                due = [r for r in self.ledger.outbox.due(batch + len(tried)) if r.id not in tried][:batch]
                if not due:
                    break
                for row in due:
                    tried.add(row.id)
                    delivered += self._deliver(row)
            return delivered
        finally:
            self._lock.release()

    def _deliver(self, row: OutboxRow) -> bool:
        if self.ledger.outbox.state(row.id) != PENDING:
            return False    # superseded since this round began
        try:
            payload, insuplc = self._payload(row.infno, row.sale_id or "", row.body)
        except RxlaneError as exc:
            self._failed(row, exc.message, permanent=False)
            return False
        try:
            reply = self.exchange.send(
                row.infno, payload, sale_id=row.sale_id, label="outbox", insuplc_admdvs=insuplc, msgid=row.msgid,
                retry=True, journaled=lambda c, msgid: self.ledger.outbox.attempt(c, row.id, msgid))
        except OutcomeUnknown:
            self._failed(row, "answer lost; will resend the same message", permanent=False)
            return False
        except UpstreamRefused as exc:
            if self._dispensing_is_moot(row):
                return False
            # a refusal may be transient ("busy"): retry with backoff; out of attempts it is parked with the
            # insurer's reason, shown in health, never dropped
            self._failed(row, exc.err_msg or exc.message, permanent=False)
            return False
        except RxlaneError as exc:
            self._failed(row, exc.message, permanent=False)
            return False
        # not durable: if a power cut loses this, the same msgid is sent again and the insurer recognises it
        with self.ledger.transaction(durable=False) as c:
            reply.record(c, durable=False)
            self.ledger.outbox.delivered(c, row.id)
        crash_point("outbox.after_answer")
        return True

    def _dispensing_is_moot(self, row: OutboxRow) -> bool:
        """A dispensing result (7206) refused for a sale that is refunded for good: the settlement it reports is
        cancelled, so it can never be accepted, and the prescription it would have closed is still open — the
        reopening message queued by the refund is moot too. Both are superseded instead of retried for ever."""
        if row.infno != "7206" or row.body.get("cancel"):
            return False
        with self.ledger.transaction() as c:
            if self.ledger.sales.state(row.sale_id or "", c) != "refunded":
                return False
            self.ledger.outbox.supersede_dispensing(
                c, row.sale_id or "", "the settlement was refunded before the dispensing result was accepted")
        return True

    def _failed(self, row: OutboxRow, error: str, *, permanent: bool) -> None:
        attempts = row.attempts + 1
        park = permanent or self.retry_policy.exhausted(attempts)
        next_at = datetime.now() + timedelta(seconds=self.retry_policy.delay(attempts, self._rng))
        self.ledger.outbox.failed(row.id, state=PARKED if park else PENDING, attempts=attempts,
                                  next_at=next_at.isoformat(sep=" ", timespec="seconds"), error=error)

    # -- message bodies, built from the ledger at send time ---------------------------------------------------
    def _payload(self, infno: str, sale_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        sale = self.ledger.sales.get(sale_id)
        prow = self.ledger.patients.get(sale.patient_ref)
        insuplc = str((prow.person if prow else {}).get("insuplc_admdvs", ""))
        if infno in ("3505", "3506"):
            return self._sale_upload(sale, infno, int(body.get("batch", 0))), insuplc
        if infno == "7204":
            return tx.rx_review_input(hi_rxno=sale.hi_rxno or "", phar_code=self.store_opter,
                                      phar_name=self.store_opter_name, rx_chk_stas_codg="1", rx_chk_opnn="审核通过",
                                      rx_chk_time=sale.setl_time or now()), insuplc
        split = sale.split.to_dict() if sale.split else {}
        codes = self.ledger.trace_codes.codes_per_line(sale_id, self.upload_kinds)
        cancel = bool(body.get("cancel"))
        payload = tx.dispense_result_input(
            hi_rxno=sale.hi_rxno or "", setl_id=sale.setl_id or "", setl_time=sale.setl_time or now(),
            cancel=cancel,
            selinfo=[{"med_list_codg": ln.med_list_codg, "drug_cnt": str(ln.qty), "trdn_flag": str(int(ln.trdn)),
                      "drug_trac_codg": ",".join(codes.get(ln.line_no, []))} for ln in sale.lines])
        if not cancel:
            payload["data"].update({k: split.get(k, "0.00") for k in
                                    ("fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay")})
        return payload, insuplc

    def _sale_upload(self, sale: Any, infno: str, batch: int) -> dict[str, Any]:
        """One message per 100 codes: batch N carries codes N*100..N*100+99 in line order, with their lines."""
        per_line = self.ledger.trace_codes.codes_per_line(sale.id, self.upload_kinds)
        flat = [(line_no, code) for line_no, codes in sorted(per_line.items()) for code in codes]
        mine = flat[batch * CODES_PER_MESSAGE:(batch + 1) * CODES_PER_MESSAGE]
        codes: dict[int, list[str]] = {}
        for line_no, code in mine:
            codes.setdefault(line_no, []).append(code)
        if batch == 0:
            lines = [ln for ln in sale.lines if ln.line_no in codes or not any(n == ln.line_no for n, _ in flat)]
        else:
            lines = [ln for ln in sale.lines if ln.line_no in codes]
        rx = sale.rx or {}
        refund = sale.refund or {}
        items = []
        for ln in lines:
            item = {
                "med_list_codg": ln.med_list_codg, "fixmedins_hilist_id": ln.med_list_codg,
                "fixmedins_hilist_name": ln.drug_name, "fixmedins_bchno": f"{sale.id}-{ln.line_no}",
                "prsc_dr_cert_type": "", "prsc_dr_certno": "", "prsc_dr_name": rx.get("physician_name", ""),
                "phar_cert_type": "", "phar_certno": "", "phar_name": "", "phar_prac_cert_no": "",
                "hi_feesetl_type": "1", "setl_id": sale.setl_id or refund.get("setl_id", ""),
                "mdtrt_sn": sale.id, "psn_no": sale.psn_no, "psn_cert_type": "01", "certno": "",
                "psn_name": "", "manu_lotnum": "", "manu_date": "", "expy_end": "",
                "rx_flag": "1" if sale.hi_rxno else "0", "trdn_flag": str(int(ln.trdn)),
                "finl_trns_pric": f"{ln.price:.2f}", "rxno": sale.hi_rxno or "",
                "rx_circ_flag": "1" if sale.hi_rxno else "0", "rtal_docno": sale.id,
                "sel_retn_cnt": str(ln.qty), "sel_retn_time": sale.setl_time or now(),
                "sel_retn_opter_name": "", "mdtrt_setl_type": "1",
                "drugtracinfo": [{"drug_trac_codg": c} for c in codes.get(ln.line_no, [])],
            }
            if infno == "3506":
                item["medins_prod_sel_no"] = f"{sale.id}-{ln.line_no}"
            items.append(item)
        return tx.sale_return_input(items) if infno == "3506" else tx.sale_upload_input(items)


def enqueue_sale_uploads(ledger: Ledger, conn: Connection, sale_id: str, *, refund: bool) -> None:
    """3505/3506 and 7206 go through the outbox: the patient is done once settled; uploads retry."""
    n_codes = ledger.trace_codes.count(conn, sale_id)
    for batch in range(max(1, -(-n_codes // CODES_PER_MESSAGE))):
        ledger.outbox.enqueue(conn, "3506" if refund else "3505", sale_id, {"sale_id": sale_id, "batch": batch})
    hi_rxno = ledger.sales.get_hi_rxno(conn, sale_id)
    if hi_rxno and refund and _supersede_unsent_dispensing(ledger, conn, sale_id):
        return   # the prescription was never marked dispensed: there is nothing to reopen
    if hi_rxno:
        # the pharmacist's review (7204) precedes the dispensing result (7206); a refund only reopens the rx
        for infno in (("7206",) if refund else ("7204", "7206")):
            ledger.outbox.enqueue(conn, infno, sale_id, {"sale_id": sale_id, "cancel": refund})


def _supersede_unsent_dispensing(ledger: Ledger, conn: Connection, sale_id: str) -> bool:
    """A refund before the dispensing result (7206) reached the platform: that result must not be sent any more
    (the platform refuses it for a cancelled settlement, and then refuses the reopening too). Only a row that
    certainly did not arrive — never sent, or refused — is superseded; one whose answer is unknown is not."""
    rows = ledger.outbox.open_dispensing(conn, sale_id)
    unsent = [row_id for row_id, msgid, sent in rows if msgid is None or sent in (REFUSED, UNSENT)]
    if not rows or len(unsent) != len(rows):
        return False
    ledger.outbox.supersede(conn, unsent, "refunded before the dispensing result was delivered")
    return True
