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
from typing import Any
from collections.abc import Callable

from adapters.nhsa import settlement as stx
from adapters.nhsa.client import Answer
from adapters.nhsa.profile import GatewayProfile
from plugin import packs, patients, prescriptions
from plugin.catalog import Catalog
from plugin.crashpoints import crash_point
from plugin.errors import InvalidInput, RxlaneError, SettlementInDoubt, UpstreamRefused, reason
from plugin.events import EventBus
from plugin.exchange import Exchange, OutcomeUnknown, Reply
from plugin.money import wire
from plugin.outbox import enqueue_sale_uploads
from plugin.policy import Policy, QuoteLine, QuoteRequest, Ytd
from plugin.policy import split as policy_split
from plugin.privacy import scrub
from plugin.password import PasswordSeal
from plugin.sale import IN_DOUBT_STATES, Order, Sale, SaleEvent, SaleLine, SaleState, transition
from plugin.judging import LineJudge, refused_lines
from plugin.splits import compare, feedetl_sn, sale_split
from plugin.store import Connection, Ledger, now
from plugin.store.journal import REFUSED as JOURNAL_REFUSED
from plugin.store.journal import REVERSED as JOURNAL_REVERSED
from plugin.institutions import InstitutionLevels
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
                 on_uploads: Callable[[], None] | None = None, password_seal: PasswordSeal | None = None,
                 levels: InstitutionLevels | None = None, scan_rules: ScanRules | None = None):
        self.ledger = ledger
        self.levels = levels
        self.profile: GatewayProfile = upstream.client.profile
        self.password_seal = password_seal
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

    def judge_for(self, *, person: dict[str, Any], filings: list[dict[str, Any]],
                  rx: dict[str, Any] | None) -> LineJudge:
        """The judge of one purchase's lines (plugin/judging.py), used by the sale and the prescription view alike:
        the facts are read once for all its lines."""
        return LineJudge(policy=self.policy, pharmacy_admdvs=self.pharmacy_admdvs, today=self.today(),
                         person=person, filings=filings, rx=rx, list_known=self.catalog.list_known)

    # -- create ---------------------------------------------------------------------------------------------
    def create(self, order: Order) -> str:
        person, filings, _ = patients.load(self.ledger, order.patient_ref)
        today = self.today()
        rx = prescriptions.kept_for_sale(self.ledger, order.hi_rxno, person["psn_no"]) if order.hi_rxno else None
        lines: list[SaleLine] = []
        entries: dict[str, dict[str, Any]] = {}
        judge = self.judge_for(person=person, filings=filings, rx=rx)
        for no, line in enumerate(order.lines, start=1):
            entry = self.catalog.entry(line.med_list_codg, today)
            described = entry or _from_prescription(rx, line.med_list_codg)
            if described is None:
                raise RxlaneError("DRUG_NOT_FOUND", http_status=422,
                                  details={"field": f"lines[{no - 1}].med_list_codg",
                                           "med_list_codg": scrub(line.med_list_codg)})
            trdn = line.qty != line.qty.to_integral()
            if trdn and line.qty > 1:
                raise InvalidInput("A 拆零 (split) line sells part of one pack (qty < 1); sell whole packs on a "
                                   "separate line.", "拆零销售一行只能是一盒中的一部分（数量小于1），整盒请另起一行。",
                                   field=f"lines[{no - 1}].qty")
            entries[line.med_list_codg] = entry or {}
            verdict = judge(entry=entry, price=line.price, donated=line.donated)
            lines.append(SaleLine(
                line_no=no, med_list_codg=line.med_list_codg, generic_name=described["generic_name"],
                drug_name=described["drug_name"], spec=described["spec"], category=described.get("category", ""),
                qty=line.qty, price=line.price,
                payment_standard=Decimal(described.get("payment_standard") or line.price),
                line_total=Decimal(wire(line.price * line.qty)), donated=line.donated, trdn=trdn,
                eligible=verdict.eligible, reasons=verdict.reasons, unknown=verdict.unknown, lot=line.lot,
                manu_date=line.manu_date, expy_end=line.expy_end))
        sale_id = "S" + datetime.now().strftime("%Y%m%d") + secrets.token_hex(6).upper()
        medfee = sum((ln.line_total for ln in lines), Decimal("0"))
        with self.ledger.transaction(durable=False) as c:
            self.ledger.sales.insert(c, sale_id=sale_id, biz_date=today.isoformat(), patient_ref=order.patient_ref,
                                     psn_no=person["psn_no"], insutype=person["insutype"], hi_rxno=order.hi_rxno,
                                     rx=rx, acct_used=order.acct_used, confirm_selfpay=order.confirm_selfpay,
                                     medfee_sumamt=medfee, lines=lines)
            for new, line in zip(lines, order.lines, strict=True):
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
        """The split by rxlane's own copy of the rules (plugin/policy), over every line (the ones sold outside
        insurance as wholly self-paid). ``incomplete`` names what it had to assume: year-to-date figures from this
        store's ledger only (``ytd``: a lower bound of the insurer's), or a hospital level it does not know
        (``hosp_lv``: 1201 gave no level for the prescribing institution, so the highest level's deductible is
        assumed)."""
        person, _, _ = patients.load(self.ledger, sale.patient_ref)
        ytd = person.get("ytd") or {}
        incomplete = [] if person.get("ytd_source") == "5206" else ["ytd"]
        hosp_lv = None
        by_level = self.policy.deductible.by_level
        if by_level:
            institution = (sale.rx or {}).get("institution_code") or ""
            hosp_lv = self.levels.level(institution) if self.levels is not None else None
            if hosp_lv not in by_level:
                hosp_lv = max(by_level, key=lambda lv: by_level[lv])
                incomplete.append("hosp_lv")
        quote = QuoteRequest(
            # a sale with no insured line is settled at the counter: nothing reaches the insurer, so no account pays
            insutype=sale.insutype, hosp_lv=hosp_lv, acct_used=sale.acct_used and any(ln.insured for ln in sale.lines),
            balc=Decimal(person.get("balc") or "0"),
            ytd=Ytd(**{k: Decimal(str(ytd.get(k, "0"))) for k in
                       ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")}),
            lines=[QuoteLine(med_list_codg=ln.med_list_codg, category=ln.category if ln.category in
                             self.policy.categories else "", price=ln.price, qty=ln.qty,
                             payment_standard=ln.payment_standard,
                             eligible=ln.insured and ln.category in self.policy.categories, donated=ln.donated,
                             reasons=ln.reasons) for ln in sale.lines])
        if any(ln.insured and ln.category not in self.policy.categories for ln in sale.lines):
            incomplete.append("category")      # no list entry: the insurer's split alone will say what the fund pays
        out = policy_split(self.policy, quote).to_dict()
        out["incomplete"] = incomplete
        return out

    @staticmethod
    def _check_settleable(sale: Sale, confirm: bool) -> None:
        """Ineligible lines need the pharmacist's confirmation that they are sold wholly self-paid (outside the
        insured purchase); some cannot be confirmed at all: an unusable prescription authorises no dispensing
        (national §5), and no sale may exceed the payment standard (Chongqing §五(一))."""
        blocked = [ln for ln in sale.lines if not ln.eligible and not ln.donated]
        hard = [ln for ln in blocked if UNCONFIRMABLE & set(ln.reasons)]
        shown = hard if confirm else blocked
        if not shown:
            return
        raise _ineligible(shown, confirmable=not hard)

    def _settle_input(self, sale: Sale) -> tuple[dict[str, Any], str]:
        """2101/2102 input for the insured lines, per the gateway profile; and the 就诊凭证 type (01/02/03)."""
        prow = self.ledger.patients.get(sale.patient_ref)
        if prow is None:
            raise patients.unknown_ref(sale.patient_ref)
        rx = sale.rx or {}
        dise_codg, dise_name = "", ""
        if self.profile.settle.dise_from_filing and rx.get("disease_code"):
            filed = [f for f in prow.filings if f.get("opsp_dise_code") == rx["disease_code"]]
            if filed:
                dise_codg, dise_name = filed[0]["opsp_dise_code"], filed[0].get("opsp_dise_name", "")
        stamp = now()
        lines = [stx.DrugLine(
            feedetl_sn=feedetl_sn(sale.id, ln.line_no), med_list_codg=ln.med_list_codg, cnt=ln.qty, pric=ln.price,
            rxno=sale.hi_rxno or "", rx_circ_flag="1" if sale.hi_rxno else "0", fee_ocur_time=stamp,
            bilg_dr_codg=rx.get("physician_code") or "", bilg_dr_name=rx.get("physician_name") or "")
            for ln in sale.lines if ln.insured]
        body = stx.settle_input(self.profile, psn_no=sale.psn_no, mdtrt_cert_type=prow.cert_type,
                                mdtrt_cert_no=prow.cert_no, insutype=sale.insutype, acct_used=sale.acct_used,
                                lines=lines, begntime=sale.created_at, dise_codg=dise_codg, dise_name=dise_name)
        return body, prow.cert_type

    def _insuplc(self, sale: Sale) -> str:
        person, _, _ = patients.load(self.ledger, sale.patient_ref)
        return str(person["insuplc_admdvs"])

    def _cainfo(self, sale: Sale, password: str | None) -> str:
        """The patient's password for 2102, sealed for the province (profiles with ``password_in_cainfo``); a
        cross-province patient is exempt. Refused with PASSWORD_REQUIRED when it is needed and missing."""
        if not self.profile.settle.password_in_cainfo:
            return ""
        if self._insuplc(sale)[:2] != self.pharmacy_admdvs[:2]:
            return ""
        if not password:
            raise RxlaneError("PASSWORD_REQUIRED")
        if self.password_seal is None:
            raise RxlaneError("PASSWORD_REQUIRED", message="The province's password key is not configured.",
                              message_zh="未配置医保密码加密公钥（[nhsa] password_public_key_file），无法提交密码。")
        return self.password_seal.seal(password)

    def _refused(self, c: Connection, sale: Sale, err: UpstreamRefused) -> RxlaneError:
        """Record what an insurer's refusal of 2101/2102 means for the lines; the error to raise."""
        code, line_nos = refused_lines(self.profile, err.err_msg, sale.lines)
        if code is None:
            return err
        self.ledger.sales.add_reasons(c, sale.id, line_nos, [code])
        shown = [ln for ln in self.ledger.sales.lines(sale.id) if ln.line_no in line_nos] or list(sale.lines)
        refusal = _ineligible(shown, confirmable=code not in UNCONFIRMABLE)
        refusal.details["insurer"] = {"infcode": err.infcode, "err_msg": err.err_msg}
        return refusal

    # -- presettle (2101): nothing moves ---------------------------------------------------------------------
    def presettle(self, sale_id: str, confirm_selfpay: bool | None = None) -> dict[str, Any]:
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            transition(sale.state, E.PRESETTLE)
            confirm = sale.confirm_selfpay if confirm_selfpay is None else confirm_selfpay
            self._check_settleable(sale, confirm)
            estimate = self.estimate(sale)
            setl = None
            if any(ln.insured for ln in sale.lines):
                body, _ = self._settle_input(sale)
                try:
                    out = self.upstream.query("2101", body, insuplc_admdvs=self._insuplc(sale),
                                              insutype=sale.insutype)
                except UpstreamRefused as exc:
                    with self.ledger.transaction(durable=False) as c:
                        err = self._refused(c, sale, exc)
                    raise err from None
                crash_point("presettle.after_send")
                with insurer_data("2101"):
                    setl = stx.parse_setlinfo(out, self.profile.answers.get("2101", "setlinfo"))
            insurer = sale_split(setl, sale.id, sale.lines, estimate)
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
    def settle(self, sale_id: str, confirm_selfpay: bool | None = None, password: str | None = None) -> dict[str, Any]:
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            before = sale.state
            transition(before, E.SETTLE_SENT)
            confirm = sale.confirm_selfpay if confirm_selfpay is None else confirm_selfpay
            self._check_settleable(sale, confirm)
            packs.check_counts(self.ledger.trace_codes, sale_id, list(sale.lines))
            estimate = self.estimate(sale)
            if not any(ln.insured for ln in sale.lines):
                return self._settle_locally(sale, confirm, estimate)
            body, _ = self._settle_input(sale)
            cainfo = self._cainfo(sale, password)

            def journaled(c: Connection, msgid: str) -> None:
                self.ledger.sales.move(c, sale_id, E.SETTLE_SENT, settle_msgid=msgid, confirm_selfpay=confirm,
                                       estimate=estimate)
                self._publish(sale_id, SaleState.SETTLING)   # an event only: readers of the sale see the commit

            refusal: list[RxlaneError] = []

            def failed(c: Connection, err: RxlaneError) -> None:
                self.ledger.sales.move(c, sale_id, E.SETTLE_FAILED, previous=before, last_error=err.to_body())
                if isinstance(err, UpstreamRefused):
                    refusal.append(self._refused(c, sale, err))

            node = self.profile.answers.get("2102", "setlinfo")
            try:
                reply = self.exchange.send(
                    "2102", body, sale_id=sale_id, label="settle", insuplc_admdvs=self._insuplc(sale),
                    insutype=sale.insutype, cainfo=cainfo, read=lambda a: stx.parse_setlinfo(a.output, node),
                    journaled=journaled, failed=failed, lost=lambda c: self._lost(c, sale_id))
            except OutcomeUnknown as exc:
                self._in_doubt(sale_id, SaleState.IN_DOUBT)
                raise SettlementInDoubt(sale_id, exc.msgid) from None
            except RxlaneError:
                self._publish(sale_id, before)
                if refusal:
                    raise refusal[-1] from None
                raise
            return self._record_settlement(sale_id, E.ANSWERED, reply.value, estimate, reply.record, reply.msgid)

    def _settle_locally(self, sale: Sale, confirm: bool, estimate: dict[str, Any]) -> dict[str, Any]:
        """Every line is sold outside insurance: nothing goes to the insurer; the patient pays the whole sale."""
        split = sale_split(None, sale.id, sale.lines, estimate)
        with self.ledger.transaction() as c:
            self.ledger.sales.move(c, sale.id, E.SETTLE_LOCAL, confirm_selfpay=confirm, estimate=estimate,
                                   split=split, mismatch=[], setl_time=now(), last_error=None)
            self.ledger.audit.append("settlement", sale.id, {"msgid": None, "setl_id": None, "self_paid": True,
                                                             "medfee_sumamt": split["medfee_sumamt"],
                                                             "psn_cash_pay": split["psn_cash_pay"]}, conn=c)
            enqueue_sale_uploads(self.ledger, c, sale.id, refund=False)
        self._publish(sale.id, SaleState.SETTLED)
        if self.on_uploads:
            self.on_uploads()
        return {"split": split, "estimate": estimate, "mismatch": []}

    def _lost(self, c: Connection, sale_id: str) -> None:
        frm = self.ledger.sales.state(sale_id, c)
        self.ledger.sales.move(c, sale_id, E.LOST)
        self.ledger.audit.append("in_doubt", sale_id, {"from": frm}, conn=c)

    def _in_doubt(self, sale_id: str, state: SaleState) -> None:
        self._publish(sale_id, state)
        if self.on_in_doubt:
            self.on_in_doubt(sale_id)

    def _record_settlement(self, sale_id: str, event: SaleEvent, setl: stx.SetlInfo, estimate: dict[str, Any],
                           record: Callable[[Connection], None], msgid: str) -> dict[str, Any]:
        sale = self.ledger.sales.get(sale_id)
        shown = sale_split(setl, sale_id, sale.lines, estimate)
        mismatch = compare(shown, estimate)
        with self.ledger.transaction() as c:
            record(c)
            self.ledger.sales.move(c, sale_id, event, setl_id=setl.setl_id, mdtrt_id=setl.mdtrt_id,
                                   setl_time=setl.setl_time or now(), split=shown, insurer=_insurer(setl),
                                   mismatch=mismatch, last_error=None)
            self.ledger.audit.append("settlement", sale_id, {
                "msgid": msgid, "setl_id": setl.setl_id, "medfee_sumamt": shown["medfee_sumamt"],
                "fund_pay_sumamt": shown["fund_pay_sumamt"], "psn_cash_pay": shown["psn_cash_pay"]}, conn=c)
            if mismatch:
                self.ledger.audit.append("estimate_mismatch", sale_id, {"step": "2102", "mismatch": mismatch}, conn=c)
            enqueue_sale_uploads(self.ledger, c, sale_id, refund=False)
        crash_point("settle.after_answer")
        self._publish(sale_id, SaleState.SETTLED)
        if self.on_uploads:
            self.on_uploads()
        return {"split": shown, "estimate": estimate, "mismatch": mismatch}

    # -- refund (2103) --------------------------------------------------------------------------------------
    def refund(self, sale_id: str, why: str = "", lines: list[int] | None = None) -> dict[str, Any]:
        """Cancel the whole settlement: the insurer cancels a settlement as a whole (2103 takes a setl_id), so a
        subset of lines is refused with its reason rather than silently refunding everything. A sale the insurer
        never settled (every line self-paid) is refunded here alone."""
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            whole = {ln.line_no for ln in sale.lines}
            if not sale.setl_id and sale.state is SaleState.SETTLED:
                if lines is not None and set(lines) != whole:
                    raise RxlaneError("PARTIAL_REFUND_UNSUPPORTED", details={"lines": sorted(whole)})
                return self._refund_locally(sale, why)
            transition(sale.state, E.REFUND_SENT)
            if lines is not None and set(lines) != whole:
                raise RxlaneError("PARTIAL_REFUND_UNSUPPORTED", details={"lines": sorted(whole)})

            def read(answer: Answer) -> stx.SetlInfo:
                return stx.parse_setlinfo(answer.output, self.profile.answers.get("2103", "setlinfo"))

            try:
                reply = self.exchange.send(
                    "2103", stx.cancel_input(sale.setl_id or "", sale.mdtrt_id or "", sale.psn_no), sale_id=sale_id,
                    label="refund", insuplc_admdvs=self._insuplc(sale), insutype=sale.insutype, read=read,
                    journaled=lambda c, msgid: self.ledger.sales.move(c, sale_id, E.REFUND_SENT),
                    failed=lambda c, err: self.ledger.sales.move(c, sale_id, E.REFUND_FAILED),
                    lost=lambda c: self._lost(c, sale_id))
            except OutcomeUnknown as exc:
                self._in_doubt(sale_id, SaleState.REFUND_IN_DOUBT)
                raise SettlementInDoubt(sale_id, exc.msgid) from None
            return self._record_refund(sale_id, reply, why)

    def _refund_locally(self, sale: Sale, why: str) -> dict[str, Any]:
        split = sale.split.to_dict() if sale.split else {}
        refund = {"msgid": None, "setl_id": None, "reason": why, "refunded_at": now(),
                  "split": {k: _negated(v) for k, v in split.items() if k != "lines"}}
        with self.ledger.transaction() as c:
            self.ledger.sales.move(c, sale.id, E.REFUND_LOCAL, refund=refund)
            self.ledger.trace_codes.release(c, sale.id)
            self.ledger.audit.append("refund", sale.id, {"msgid": None, "setl_id": None, "reason": why}, conn=c)
            enqueue_sale_uploads(self.ledger, c, sale.id, refund=True)
        self._publish(sale.id, SaleState.REFUNDED)
        if self.on_uploads:
            self.on_uploads()
        return refund

    def _record_refund(self, sale_id: str, reply: Reply[stx.SetlInfo], why: str) -> dict[str, Any]:
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
    def reversal_attempts(self, sale_id: str) -> int:
        """2601s the insurer refused for this sale (bounded: automatic resolution stops at the profile's limit)."""
        return sum(1 for j in self.ledger.journal.for_sale(sale_id) if j["infno"] == "2601"
                   and j["state"] == JOURNAL_REFUSED)

    def resolve(self, sale_id: str) -> str:
        """Reverse the unanswered 2102 (→ reversed) or 2103 (→ settled again). Returns the sale's new state.

        The insurer may refuse the reversal: when its text says the original never arrived (the profile's
        ``reversal.not_found_patterns``) nothing was done and the sale ends as if reversed; any other refusal is
        raised (the sale stays in doubt; automatic retries stop after ``reversal.max_attempts``)."""
        with self._lock(sale_id):
            sale = self.ledger.sales.get(sale_id)
            if sale.state not in IN_DOUBT_STATES:
                return sale.state.value
            if sale.state is SaleState.IN_DOUBT:
                omsgid, oinfno = sale.settle_msgid or "", self.profile.wire_infno("2102")
                clear: dict[str, Any] = {"setl_id": None, "mdtrt_id": None, "split": None, "insurer": None}
            else:
                omsgid, oinfno, clear = self.ledger.journal.latest(sale_id, "2103") or "", \
                    self.profile.wire_infno("2103"), {}
            reply: Reply[Answer]
            try:
                reply = self.exchange.send("2601", stx.reversal_input(sale.psn_no, omsgid, oinfno), sale_id=sale_id,
                                           label="resolve", insuplc_admdvs=self._insuplc(sale),
                                           insutype=sale.insutype)
            except OutcomeUnknown:
                return sale.state.value   # still unknown: the next attempt sends a new 2601 (reversal is idempotent)
            except UpstreamRefused as exc:
                if not self.profile.reversal.not_found(exc.err_msg):
                    raise
                record, how = (lambda c: None), {"not_found": exc.err_msg}   # the original never arrived
            else:
                record, how = reply.record, {"msgid": reply.msgid}
            with self.ledger.transaction() as c:
                record(c)
                self.ledger.journal.answer(omsgid, JOURNAL_REVERSED, conn=c)
                after = self.ledger.sales.move(c, sale_id, E.REVERSED, **clear)
                self.ledger.audit.append("reversal", sale_id, {"omsgid": omsgid, "oinfno": oinfno, **how}, conn=c)
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

            self._record_settlement(sale_id, E.ADOPTED, stx.parse_setlinfo(output), estimate, record, msgid)
            return SaleState.SETTLED.value

    def find_by_setl_id(self, setl_id: str) -> str | None:
        return self.ledger.sales.find_by_setl_id(setl_id)

    def in_doubt_ids(self) -> list[str]:
        return self.ledger.sales.ids_in(*IN_DOUBT_STATES)


def _ineligible(lines: list[SaleLine], *, confirmable: bool) -> RxlaneError:
    codes = sorted({c for ln in lines for c in ln.reasons})
    details = {"lines": [{"line_no": ln.line_no, "med_list_codg": ln.med_list_codg,
                          "reasons": [reason(c) for c in ln.reasons]} for ln in lines], "confirmable": confirmable}
    if codes == ["PRICE_ABOVE_STANDARD"]:
        return RxlaneError("PRICE_ABOVE_STANDARD", details=details)
    if not confirmable:
        return RxlaneError("LINES_INELIGIBLE", message="Some lines cannot be sold on this prescription.",
                           message_zh="部分药品不能按此处方调剂（处方不属于该患者、已过期、已调剂或已撤销），"
                                      "请核对处方。", details=details)
    return RxlaneError("LINES_INELIGIBLE", details=details)


def _insurer(setl: stx.SetlInfo) -> dict[str, Any]:
    """The insurer's own settlement as kept for reconciliation (money as two-decimal strings)."""
    return {**setl.split(), "setl_id": setl.setl_id, "mdtrt_id": setl.mdtrt_id, "clr_optins": setl.clr_optins,
            "clr_type": setl.clr_type, "clr_way": setl.clr_way, "insutype": setl.insutype,
            "medins_setl_id": setl.medins_setl_id, "derived": list(setl.derived)}


def _negated(value: Any) -> Any:
    return f"{-Decimal(value):.2f}" if isinstance(value, str) else value


def _from_prescription(rx: dict[str, Any] | None, code: str) -> dict[str, Any] | None:
    """A drug the list does not have, described from the prescription that names it."""
    line = next((ln for ln in (rx or {}).get("lines", []) if ln.get("med_list_codg") == code), None)
    if line is None:
        return None
    return {"generic_name": line.get("drug_genname") or code, "drug_name": line.get("drug_prodname") or "",
            "spec": line.get("drug_spec") or ""}
