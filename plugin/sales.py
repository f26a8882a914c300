"""The sale service: create, presettle (2101), settle (2102), refund (2103), resolve (2601) — the money-moving flows.

Every state change goes through the table in plugin/sale.py (``TRANSITIONS``) via ``ledger.sales.move``; every
money-moving message through the journaled exchange (plugin/exchange.py): journaled before it leaves; a lost answer
makes the sale ``in_doubt``, resolved by reversal (2601) of the original msgid — never by a second 2102.
"""
from __future__ import annotations

import secrets
import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from adapters.nhsa import transactions as tx
from adapters.nhsa.client import Answer
from plugin import eligibility as rules
from plugin import packs, patients, prescriptions
from plugin.catalog import Catalog
from plugin.crashpoints import crash_point
from plugin.errors import InvalidInput, RxlaneError, SettlementInDoubt, reason
from plugin.events import EventBus
from plugin.exchange import Exchange, OutcomeUnknown, Reply
from plugin.money import wire
from plugin.outbox import enqueue_sale_uploads
from plugin.policy import Policy, QuoteLine, QuoteRequest, Ytd
from plugin.policy import split as policy_split
from plugin.privacy import scrub
from plugin.sale import IN_DOUBT_STATES, Order, Sale, SaleEvent, SaleLine, SaleState, transition
from plugin.splits import compare, split_from_answer
from plugin.store import Connection, Ledger, now
from plugin.store.journal import REVERSED as JOURNAL_REVERSED
from plugin.tracecode import ScanRules
from plugin.upstream import Upstream, insurer_data

E = SaleEvent
#: Reasons a pharmacist's "全自费" confirmation cannot override.
UNCONFIRMABLE = frozenset({"RX_PATIENT_MISMATCH", "RX_EXPIRED", "RX_ALREADY_DISPENSED", "RX_REVOKED",
                           "PRICE_ABOVE_STANDARD"})


class SaleService:
    def __init__(self, ledger: Ledger, upstream: Upstream, catalog: Catalog, policy: Policy, *,
                 pharmacy_admdvs: str, trace_prefix_len: int = 7, events: EventBus | None = None,
                 today: Callable[[], date] = date.today, on_in_doubt: Callable[[str], None] | None = None,
                 on_uploads: Callable[[], None] | None = None, scan_rules: ScanRules | None = None):
        self.ledger = ledger
        self.upstream = upstream
        self.exchange = Exchange(ledger, upstream)
        self.catalog = catalog
        self.policy = policy
        self.pharmacy_admdvs = pharmacy_admdvs
        self.trace_prefix_len = trace_prefix_len
        self.scan_rules = scan_rules or ScanRules(product_prefix_len=trace_prefix_len)
        self.events = events or EventBus()
        self.today = today
        self.on_in_doubt = on_in_doubt
        self.on_uploads = on_uploads
        # striped: a lock per sale would grow with every sale ever made; two sales sharing a stripe just queue
        self._locks = [threading.RLock() for _ in range(64)]

    # -- helpers --------------------------------------------------------------------------------------------
    def _lock(self, sale_id: str) -> threading.RLock:
        return self._locks[hash(sale_id) % len(self._locks)]

    def lock(self, sale_id: str) -> threading.RLock:
        """The lock every change of this sale holds, for the services beside this one (plugin/drafts.py)."""
        return self._lock(sale_id)

    def _publish(self, sale_id: str, state: str) -> None:
        self.events.publish("sale", {"id": sale_id, "state": str(state)})

    def judge(self, *, person: dict[str, Any], filings: list[dict[str, Any]], rx: dict[str, Any] | None,
              entry: dict[str, Any] | None, price: Decimal, donated: bool) -> list[str]:
        """The eligibility reason codes of one line (plugin/eligibility.py ``check_line``), from the stored patient,
        the downloaded prescription and the catalogue entry; used by the sale and the prescription view alike."""
        return rules.check_line(
            patient=rules.Patient(psn_no=person["psn_no"], insuplc_admdvs=person["insuplc_admdvs"]),
            filings=[rules.Filing.from_mapping(f) for f in filings],
            prescription=rules.Prescription.from_mapping(rx) if rx else None,
            entry=rules.CatalogEntry.from_mapping(entry) if entry else None, policy=self.policy, price=price,
            donated=donated, today=self.today(), pharmacy_admdvs=self.pharmacy_admdvs)

    # -- create ---------------------------------------------------------------------------------------------
    def create(self, order: Order) -> str:
        person, filings, _ = patients.load(self.ledger, order.patient_ref)
        today = self.today()
        rx = None
        if order.hi_rxno:
            rx = prescriptions.download(self.upstream, hi_rxno=order.hi_rxno,
                                        insuplc_admdvs=person["insuplc_admdvs"])
        lines: list[SaleLine] = []
        entries: dict[str, dict[str, Any]] = {}
        for no, line in enumerate(order.lines, start=1):
            entry = self.catalog.entry(line.med_list_codg)
            if entry is None:
                raise RxlaneError("DRUG_NOT_FOUND", http_status=422,
                                  details={"field": f"lines[{no - 1}].med_list_codg",
                                           "med_list_codg": scrub(line.med_list_codg)})
            trdn = line.qty != line.qty.to_integral()
            if trdn and line.qty > 1:
                raise InvalidInput("A 拆零 (split) line sells part of one pack (qty < 1); sell whole packs on a "
                                   "separate line.", "拆零销售一行只能是一盒中的一部分（数量小于1），整盒请另起一行。",
                                   field=f"lines[{no - 1}].qty")
            entries[line.med_list_codg] = entry
            codes = self.judge(person=person, filings=filings, rx=rx, entry=entry, price=line.price,
                               donated=line.donated)
            lines.append(SaleLine(
                line_no=no, med_list_codg=line.med_list_codg, generic_name=entry["generic_name"],
                drug_name=entry["drug_name"], spec=entry["spec"], category=entry["category"], qty=line.qty,
                price=line.price, payment_standard=Decimal(entry["payment_standard"]),
                line_total=Decimal(wire(line.price * line.qty)), donated=line.donated, trdn=trdn,
                eligible=not codes, reasons=tuple(codes)))
        sale_id = "S" + datetime.now().strftime("%Y%m%d") + secrets.token_hex(6).upper()
        medfee = sum((ln.line_total for ln in lines), Decimal("0"))
        with self.ledger.transaction(durable=False) as c:
            self.ledger.sales.insert(c, sale_id=sale_id, biz_date=today.isoformat(), patient_ref=order.patient_ref,
                                     psn_no=person["psn_no"], insutype=person["insutype"], hi_rxno=order.hi_rxno,
                                     rx=rx, acct_used=order.acct_used, confirm_selfpay=order.confirm_selfpay,
                                     medfee_sumamt=medfee, lines=lines)
            for new, line in zip(lines, order.lines):
                if line.trace_codes:
                    packs.add_codes(self.ledger.trace_codes, c, sale_id, line.trace_codes, lines=lines,
                                    entries=entries, rules=self.scan_rules, today=today,
                                    line_no=new.line_no)
            crash_point("create.before_commit")
        self._publish(sale_id, SaleState.DRAFT)
        return sale_id

    # -- packs ----------------------------------------------------------------------------------------------
    def add_trace_codes(self, sale_id: str, codes: list[str], line_no: int | None = None,
                        distinct_from: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            transition(sale.state, E.EDIT)
            entries = {ln.med_list_codg: self.catalog.entry(ln.med_list_codg) or {} for ln in sale.lines}
            with self.ledger.transaction(durable=False) as c:
                added = packs.add_codes(self.ledger.trace_codes, c, sale_id, codes, lines=list(sale.lines),
                                        entries=entries, rules=self.scan_rules, today=self.today(),
                                        line_no=line_no, distinct_from=distinct_from)
                self.ledger.sales.move(c, sale_id, E.EDIT)
            return added

    def remove_trace_codes(self, sale_id: str, codes: list[str]) -> int:
        with self._lock(sale_id):
            transition(self.ledger.sales.get(sale_id).state, E.EDIT)
            with self.ledger.transaction() as c:
                removed = packs.remove_codes(self.ledger.trace_codes, c, sale_id, codes)
                self.ledger.sales.move(c, sale_id, E.EDIT)
                return removed

    def cancel(self, sale_id: str) -> None:
        """Abandon a sale that was never settled: its packs are free again. Nothing was charged."""
        with self._lock(sale_id):
            with self.ledger.transaction() as c:
                self.ledger.sales.move(c, sale_id, E.CANCEL)
                self.ledger.trace_codes.release(c, sale_id)
            self._publish(sale_id, SaleState.CANCELLED)

    # -- the local estimate: the same rules as the insurer, computed independently ---------------------------
    def estimate(self, sale: Sale) -> dict[str, Any]:
        """The split by rxlane's own copy of the rules (plugin/policy), as the split object."""
        person, filings, _ = patients.load(self.ledger, sale.patient_ref)
        levels = [f["hosp_lv"] for f in filings if f.get("hosp_lv")]
        ytd = person.get("ytd") or {}
        quote = QuoteRequest(
            insutype=sale.insutype, hosp_lv=max(levels) if levels else None, acct_used=sale.acct_used,
            balc=Decimal(person["balc"]),
            ytd=Ytd(**{k: Decimal(str(ytd.get(k, "0"))) for k in
                       ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")}),
            lines=[QuoteLine(med_list_codg=ln.med_list_codg, category=ln.category, price=ln.price, qty=ln.qty,
                             payment_standard=ln.payment_standard, eligible=ln.eligible, donated=ln.donated,
                             reasons=ln.reasons) for ln in sale.lines])
        return policy_split(self.policy, quote).to_dict()

    @staticmethod
    def _check_settleable(sale: Sale, confirm: bool) -> None:
        """Ineligible lines need the pharmacist's confirmation of full self-pay; some cannot be confirmed at all:
        an unusable prescription authorises no dispensing (national §5), and no sale may exceed the payment
        standard (Chongqing §五(一))."""
        blocked = [ln for ln in sale.lines if not ln.eligible and not ln.donated]
        hard = [ln for ln in blocked if UNCONFIRMABLE & set(ln.reasons)]
        shown = hard if confirm else blocked
        if not shown:
            return
        codes = sorted({c for ln in shown for c in ln.reasons})
        details = {"lines": [{"line_no": ln.line_no, "med_list_codg": ln.med_list_codg,
                              "reasons": [reason(c) for c in ln.reasons]} for ln in shown],
                   "confirmable": not hard}
        if codes == ["PRICE_ABOVE_STANDARD"]:
            raise RxlaneError("PRICE_ABOVE_STANDARD", details=details)
        if hard:
            raise RxlaneError("LINES_INELIGIBLE", message="Some lines cannot be sold on this prescription.",
                              message_zh="部分药品不能按此处方调剂（处方不属于该患者、已过期、已调剂或已撤销），"
                                         "请核对处方。", details=details)
        raise RxlaneError("LINES_INELIGIBLE", details=details)

    def _settle_input(self, sale: Sale, confirm: bool) -> dict[str, Any]:
        prow = self.ledger.patients.get(sale.patient_ref)
        if prow is None:
            raise patients.unknown_ref(sale.patient_ref)
        rx = sale.rx or {}
        stamp = now()
        body = tx.settle_input(
            psn_no=sale.psn_no, mdtrt_cert_type=prow.cert_type, mdtrt_cert_no=prow.cert_no,
            insutype=sale.insutype, acct_used=sale.acct_used,
            lines=[tx.DrugLine(
                feedetl_sn=f"{sale.id}-{ln.line_no}", med_list_codg=ln.med_list_codg, cnt=ln.qty, pric=ln.price,
                rxno=sale.hi_rxno or "", rx_circ_flag="1" if sale.hi_rxno else "0", fee_ocur_time=stamp,
                bilg_dr_codg=rx.get("physician_code", ""), bilg_dr_name=rx.get("physician_name", ""),
                # the pharmacist confirmed an ineligible line as wholly self-paid; donated packs never hit the fund
                fulamt_ownpay_flag=(not ln.eligible or ln.donated) and (confirm or ln.donated),
                donated_flag=ln.donated) for ln in sale.lines])
        body["data"]["card_sn"] = prow.card_sn
        return body

    def _insuplc(self, sale: Sale) -> str:
        person, _, _ = patients.load(self.ledger, sale.patient_ref)
        return str(person["insuplc_admdvs"])

    # -- presettle (2101): nothing moves ---------------------------------------------------------------------
    def presettle(self, sale_id: str, confirm_selfpay: bool | None = None) -> dict[str, Any]:
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            transition(sale.state, E.PRESETTLE)
            confirm = sale.confirm_selfpay if confirm_selfpay is None else confirm_selfpay
            self._check_settleable(sale, confirm)
            estimate = self.estimate(sale)
            out = self.upstream.query("2101", self._settle_input(sale, confirm), insuplc_admdvs=self._insuplc(sale))
            crash_point("presettle.after_send")
            with insurer_data("2101"):
                insurer = split_from_answer(out, estimate)
            mismatch = compare(insurer, estimate)
            result = {"split": insurer, "estimate": estimate, "mismatch": mismatch}
            with self.ledger.transaction(durable=False) as c:
                self.ledger.sales.move(c, sale_id, E.PRESETTLE, confirm_selfpay=confirm, presettle=result)
                if mismatch:
                    self.ledger.audit.append("estimate_mismatch", sale_id, {"step": "2101", "mismatch": mismatch},
                                             conn=c)
            self._publish(sale_id, SaleState.PRESETTLED)
            return result

    # -- settle (2102): journal before send, never twice -----------------------------------------------------
    def settle(self, sale_id: str, confirm_selfpay: bool | None = None) -> dict[str, Any]:
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            before = sale.state
            transition(before, E.SETTLE_SENT)
            confirm = sale.confirm_selfpay if confirm_selfpay is None else confirm_selfpay
            self._check_settleable(sale, confirm)
            packs.check_counts(self.ledger.trace_codes, sale_id, list(sale.lines))
            estimate = self.estimate(sale)

            def journaled(c: Connection, msgid: str) -> None:
                self.ledger.sales.move(c, sale_id, E.SETTLE_SENT, settle_msgid=msgid, confirm_selfpay=confirm,
                                       estimate=estimate)
                self._publish(sale_id, SaleState.SETTLING)   # an event only: readers of the sale see the commit

            def failed(c: Connection, err: RxlaneError) -> None:
                self.ledger.sales.move(c, sale_id, E.SETTLE_FAILED, previous=before, last_error=err.to_body())

            try:
                reply = self.exchange.send(
                    "2102", self._settle_input(sale, confirm), sale_id=sale_id, label="settle",
                    insuplc_admdvs=self._insuplc(sale), read=lambda a: split_from_answer(a.output, estimate),
                    journaled=journaled, failed=failed, lost=lambda c: self._lost(c, sale_id))
            except OutcomeUnknown as exc:
                self._in_doubt(sale_id, SaleState.IN_DOUBT)
                raise SettlementInDoubt(sale_id, exc.msgid) from None
            except RxlaneError:
                self._publish(sale_id, before)
                raise
            return self._record_settlement(sale_id, E.ANSWERED, reply.value, estimate, reply.answer.output,
                                           reply.record, reply.msgid)

    def _lost(self, c: Connection, sale_id: str) -> None:
        frm = self.ledger.sales.state(sale_id, c)
        self.ledger.sales.move(c, sale_id, E.LOST)
        self.ledger.audit.append("in_doubt", sale_id, {"from": frm}, conn=c)

    def _in_doubt(self, sale_id: str, state: SaleState) -> None:
        self._publish(sale_id, state)
        if self.on_in_doubt:
            self.on_in_doubt(sale_id)

    def _record_settlement(self, sale_id: str, event: SaleEvent, insurer: dict[str, Any], estimate: dict[str, Any],
                           output: dict[str, Any], record: Callable[[Connection], None], msgid: str) -> dict[str, Any]:
        mismatch = compare(insurer, estimate)
        setl = output.get("setlinfo") or {}
        with self.ledger.transaction() as c:
            record(c)
            self.ledger.sales.move(c, sale_id, event, setl_id=str(setl.get("setl_id", "")),
                                   mdtrt_id=str(setl.get("mdtrt_id", "")), setl_time=str(setl.get("setl_time") or now()),
                                   split=insurer, mismatch=mismatch, last_error=None)
            self.ledger.audit.append("settlement", sale_id, {
                "msgid": msgid, "setl_id": setl.get("setl_id"), "medfee_sumamt": insurer["medfee_sumamt"],
                "fund_pay_sumamt": insurer["fund_pay_sumamt"], "psn_cash_pay": insurer["psn_cash_pay"]}, conn=c)
            if mismatch:
                self.ledger.audit.append("estimate_mismatch", sale_id, {"step": "2102", "mismatch": mismatch}, conn=c)
            enqueue_sale_uploads(self.ledger, c, sale_id, refund=False)
        crash_point("settle.after_answer")
        self._publish(sale_id, SaleState.SETTLED)
        if self.on_uploads:
            self.on_uploads()
        return {"split": insurer, "estimate": estimate, "mismatch": mismatch}

    # -- refund (2103) --------------------------------------------------------------------------------------
    def refund(self, sale_id: str, why: str = "", lines: list[int] | None = None) -> dict[str, Any]:
        """Cancel the whole settlement: the insurer cancels a settlement as a whole (2103 takes a setl_id), so a
        subset of lines is refused with its reason rather than silently refunding everything."""
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            transition(sale.state, E.REFUND_SENT)
            whole = {ln.line_no for ln in sale.lines}
            if lines is not None and set(lines) != whole:
                raise RxlaneError("PARTIAL_REFUND_UNSUPPORTED", details={"lines": sorted(whole)})

            def read(answer: Answer) -> tx.SetlInfo:
                return tx.parse_setlinfo(answer.output)

            try:
                reply = self.exchange.send(
                    "2103", tx.cancel_input(sale.setl_id or "", sale.mdtrt_id or "", sale.psn_no), sale_id=sale_id,
                    label="refund", insuplc_admdvs=self._insuplc(sale), read=read,
                    journaled=lambda c, msgid: self.ledger.sales.move(c, sale_id, E.REFUND_SENT),
                    failed=lambda c, err: self.ledger.sales.move(c, sale_id, E.REFUND_FAILED),
                    lost=lambda c: self._lost(c, sale_id))
            except OutcomeUnknown as exc:
                self._in_doubt(sale_id, SaleState.REFUND_IN_DOUBT)
                raise SettlementInDoubt(sale_id, exc.msgid) from None
            return self._record_refund(sale_id, reply, why)

    def _record_refund(self, sale_id: str, reply: Reply[tx.SetlInfo], why: str) -> dict[str, Any]:
        refund = {"msgid": reply.msgid, "setl_id": reply.value.setl_id, "reason": why, "refunded_at": now(),
                  "split": reply.value.split()}
        with self.ledger.transaction() as c:
            reply.record(c)
            self.ledger.sales.move(c, sale_id, E.ANSWERED, refund=refund)
            self.ledger.trace_codes.release(c, sale_id)
            self.ledger.audit.append("refund", sale_id, {"msgid": reply.msgid, "setl_id": refund["setl_id"],
                                                         "reason": why}, conn=c)
            enqueue_sale_uploads(self.ledger, c, sale_id, refund=True)
        crash_point("refund.after_answer")
        self._publish(sale_id, SaleState.REFUNDED)
        if self.on_uploads:
            self.on_uploads()
        return refund

    # -- in-doubt resolution: reverse (2601) the original message, never resend it ---------------------------
    def resolve(self, sale_id: str) -> str:
        """Reverse the unanswered 2102 (→ reversed) or 2103 (→ settled again). Returns the sale's new state."""
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            if sale.state not in IN_DOUBT_STATES:
                return sale.state.value
            if sale.state is SaleState.IN_DOUBT:
                omsgid, oinfno = sale.settle_msgid or "", "2102"
                clear: dict[str, Any] = {"setl_id": None, "mdtrt_id": None, "split": None}
            else:
                omsgid, oinfno, clear = self.ledger.journal.latest(sale_id, "2103") or "", "2103", {}
            try:
                reply = self.exchange.send("2601", tx.reversal_input(sale.psn_no, omsgid, oinfno), sale_id=sale_id,
                                           label="resolve", insuplc_admdvs=self._insuplc(sale))
            except OutcomeUnknown:
                return sale.state.value   # still unknown: the next attempt sends a new 2601 (reversal is idempotent)
            with self.ledger.transaction() as c:
                reply.record(c)
                self.ledger.journal.answer(omsgid, JOURNAL_REVERSED, conn=c)
                after = self.ledger.sales.move(c, sale_id, E.REVERSED, **clear)
                self.ledger.audit.append("reversal", sale_id, {"omsgid": omsgid, "oinfno": oinfno,
                                                               "msgid": reply.msgid}, conn=c)
            self._publish(sale_id, after)
            return after.value

    def adopt_settlement(self, sale_id: str, setlinfo: dict[str, Any], *, source: str) -> str:
        """Reconciliation found the insurer holding a settlement for a sale we hold in doubt: record it as settled
        (its setl_id, its amounts) instead of reversing a payment that did happen."""
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            if sale.state is not SaleState.IN_DOUBT:
                return sale.state.value
            estimate = sale.estimate.to_dict() if sale.estimate else {}
            output = {"setlinfo": setlinfo}
            msgid = sale.settle_msgid or ""

            def record(c: Connection) -> None:
                self.ledger.journal.answer(msgid, "answered", answer={"source": source, "output": output},
                                           infcode=0, conn=c)

            self._record_settlement(sale_id, E.ADOPTED, split_from_answer(output, estimate), estimate, output,
                                    record, msgid)
            return SaleState.SETTLED.value

    def find_by_setl_id(self, setl_id: str) -> str | None:
        return self.ledger.sales.find_by_setl_id(setl_id)

    def in_doubt_ids(self) -> list[str]:
        return self.ledger.sales.ids_in(*IN_DOUBT_STATES)

