"""The sale state machine and the money-moving flows (DESIGN §4, §5).

    draft ──presettle──▶ presettled ──settle──▶ settling ──▶ settled ──refund──▶ refunding ──▶ refunded
      └──────────────settle──────────────────────┘     └──▶ in_doubt ──2601──▶ reversed ──settle──▶ …
                                                                     settled ◀── refund_in_doubt ◀─┘(2601 of 2103)

Every transition is a conditional UPDATE inside one transaction, so two requests racing for the same sale cannot
both move it. A 2102/2103 is journaled (committed) before it leaves; a lost answer makes the sale `in_doubt` and
it is resolved by reversal (2601) of the original msgid — never by a second 2102.
"""
from __future__ import annotations

import json
import secrets
import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from adapters.nhsa import transactions as tx
from plugin import eligibility as rules
from plugin.errors import RxlaneError, InvalidState, NotFound, reason
from plugin.api.models import SaleIn
from plugin.catalog import Catalog
from plugin.crashpoints import crash_point
from plugin.events import EventBus
from plugin.ledger import Ledger, dumps, now
from plugin.outbox import enqueue_sale_uploads
from plugin.money import wire
from plugin.splits import compare, split_from_answer
from plugin import packs, patients, prescriptions
from plugin.policy import Policy, QuoteLine, QuoteRequest, Ytd, split as policy_split
from plugin.privacy import scrub
from plugin.upstream import UNREADABLE, OutcomeUnknown, Upstream, insurer_data

DRAFT, PRESETTLED, SETTLING, SETTLED, IN_DOUBT, REVERSED = (
    "draft", "presettled", "settling", "settled", "in_doubt", "reversed")
REFUNDING, REFUNDED, REFUND_IN_DOUBT = "refunding", "refunded", "refund_in_doubt"
CANCELLED = "cancelled"
SETTLEABLE = (DRAFT, PRESETTLED, REVERSED)
EDITABLE = SETTLEABLE
#: Reasons a pharmacist's "全自费" confirmation cannot override.
UNCONFIRMABLE = frozenset({"RX_PATIENT_MISMATCH", "RX_EXPIRED", "RX_ALREADY_DISPENSED", "RX_REVOKED",
                           "PRICE_ABOVE_STANDARD"})


class SaleService:
    def __init__(self, ledger: Ledger, upstream: Upstream, catalog: Catalog, policy: Policy, *,
                 pharmacy_admdvs: str, trace_prefix_len: int = 7, events: EventBus | None = None,
                 today: Callable[[], date] = date.today, on_in_doubt: Callable[[str], None] | None = None,
                 on_uploads: Callable[[], None] | None = None):
        self.ledger = ledger
        self.upstream = upstream
        self.catalog = catalog
        self.policy = policy
        self.pharmacy_admdvs = pharmacy_admdvs
        self.trace_prefix_len = trace_prefix_len
        self.events = events or EventBus()
        self.today = today
        self.on_in_doubt = on_in_doubt
        self.on_uploads = on_uploads
        # striped: a lock per sale would grow with every sale ever made; two sales sharing a stripe just queue
        self._locks = [threading.RLock() for _ in range(64)]

    # -- helpers --------------------------------------------------------------------------------------------
    def _lock(self, sale_id: str) -> threading.RLock:
        return self._locks[hash(sale_id) % len(self._locks)]

    def _row(self, sale_id: str):
        row = self.ledger.query_one("SELECT * FROM sales WHERE id = ?", (sale_id,))
        if row is None:
            raise NotFound("sale", id=sale_id)
        return row

    def _lines(self, sale_id: str) -> list[dict]:
        rows = self.ledger.query("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,))
        return [dict(r) for r in rows]

    def _move(self, conn, sale_id: str, frm: tuple[str, ...], to: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE sales SET state = ?, updated_at = ?{', ' + sets if sets else ''} " \
              f"WHERE id = ? AND state IN ({','.join('?' * len(frm))})"
        cur = conn.execute(sql, (to, now(), *fields.values(), sale_id, *frm))
        if cur.rowcount != 1:
            state = conn.execute("SELECT state FROM sales WHERE id = ?", (sale_id,)).fetchone()
            raise self._state_error(state[0] if state else "missing", to)

    @staticmethod
    def _state_error(state: str, action: str) -> RxlaneError:
        if state in (IN_DOUBT, REFUND_IN_DOUBT, SETTLING, REFUNDING):
            return RxlaneError("SETTLEMENT_IN_DOUBT", details={"state": state})
        return InvalidState(state, action)

    def _publish(self, sale_id: str, state: str) -> None:
        self.events.publish("sale", {"id": sale_id, "state": state})

    # -- create ---------------------------------------------------------------------------------------------
    def create(self, req: SaleIn) -> str:
        person, filings, prow = patients.load(self.ledger, req.patient_ref)
        today = self.today()
        rx = None
        if req.hi_rxno:
            rx = prescriptions.download(self.upstream, hi_rxno=req.hi_rxno,
                                        insuplc_admdvs=person["insuplc_admdvs"])
        patient = rules.Patient(psn_no=person["psn_no"], insuplc_admdvs=person["insuplc_admdvs"])
        filing_objs = [rules.Filing.from_mapping(f) for f in filings]
        rx_obj = rules.Prescription.from_mapping(rx) if rx else None
        lines = []
        entries: dict[str, dict] = {}
        for no, line in enumerate(req.lines, start=1):
            entry = self.catalog.entry(line.med_list_codg)
            if entry is None:
                raise RxlaneError("DRUG_NOT_FOUND", http_status=422,
                                  details={"field": f"lines[{no - 1}].med_list_codg",
                                           "med_list_codg": scrub(line.med_list_codg)})
            if line.qty != line.qty.to_integral() and line.qty > 1:
                raise RxlaneError("INVALID_INPUT", message="A 拆零 (split) line sells part of one pack (qty < 1); "
                                  "sell whole packs on a separate line.",
                                  message_zh="拆零销售一行只能是一盒中的一部分（数量小于1），整盒请另起一行。",
                                  details={"field": f"lines[{no - 1}].qty"})
            entries[line.med_list_codg] = entry
            entry_obj = rules.CatalogEntry.from_mapping(entry)
            codes = rules.check_line(patient=patient, filings=filing_objs, prescription=rx_obj, entry=entry_obj,
                                     policy=self.policy, price=line.price, donated=line.donated, today=today,
                                     pharmacy_admdvs=self.pharmacy_admdvs)
            lines.append({
                "line_no": no, "med_list_codg": line.med_list_codg, "generic_name": entry["generic_name"],
                "drug_name": entry["drug_name"], "spec": entry["spec"], "category": entry["category"],
                "qty": str(line.qty), "price": wire(line.price), "payment_standard": wire(entry["payment_standard"]),
                "line_total": wire(line.price * line.qty), "donated": int(line.donated),
                "trdn_flag": int(line.qty != line.qty.to_integral()), "eligible": int(not codes),
                "reasons_json": json.dumps(codes)})
        sale_id = "S" + datetime.now().strftime("%Y%m%d") + secrets.token_hex(6).upper()
        medfee = sum((Decimal(l["line_total"]) for l in lines), Decimal("0"))
        with self.ledger.transaction(durable=False) as c:
            c.execute(
                "INSERT INTO sales (id, created_at, updated_at, biz_date, state, patient_ref, psn_no, insutype, "
                "hi_rxno, rx_json, acct_used, confirm_selfpay, medfee_sumamt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sale_id, now(), now(), today.isoformat(), DRAFT, req.patient_ref, person["psn_no"],
                 person["insutype"], req.hi_rxno, dumps(rx) if rx else None, int(req.acct_used),
                 int(req.confirm_selfpay), wire(medfee)))
            for l in lines:
                c.execute(f"INSERT INTO sale_lines (sale_id, {', '.join(l)}) VALUES (?{', ?' * len(l)})",
                          (sale_id, *l.values()))
            for l, line in zip(lines, req.lines):
                if line.trace_codes:
                    packs.add_codes(c, sale_id, line.trace_codes, lines=lines, entries=entries,
                                    prefix_len=self.trace_prefix_len, today=today, line_no=l["line_no"])
            crash_point("create.before_commit")
        self._publish(sale_id, DRAFT)
        return sale_id

    # -- packs ----------------------------------------------------------------------------------------------
    def add_trace_codes(self, sale_id: str, codes: list[str], line_no: int | None = None) -> list[dict]:
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] not in EDITABLE:
                raise self._state_error(row["state"], "changed")
            lines = self._lines(sale_id)
            entries = {l["med_list_codg"]: self.catalog.entry(l["med_list_codg"]) or {} for l in lines}
            with self.ledger.transaction(durable=False) as c:
                added = packs.add_codes(c, sale_id, codes, lines=lines, entries=entries,
                                        prefix_len=self.trace_prefix_len, today=self.today(), line_no=line_no)
                c.execute("UPDATE sales SET updated_at = ? WHERE id = ?", (now(), sale_id))
            return added

    def remove_trace_codes(self, sale_id: str, codes: list[str]) -> int:
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] not in EDITABLE:
                raise self._state_error(row["state"], "changed")
            with self.ledger.transaction() as c:
                return packs.remove_codes(c, sale_id, codes)

    def cancel(self, sale_id: str) -> None:
        """Abandon a sale that was never settled: its packs are free again. Nothing was charged."""
        with self._lock(sale_id):
            with self.ledger.transaction() as c:
                self._move(c, sale_id, EDITABLE, CANCELLED)
                c.execute("UPDATE trace_codes SET released = 1 WHERE sale_id = ?", (sale_id,))
            self._publish(sale_id, CANCELLED)

    # -- the local estimate: the same rules as the insurer, computed independently ---------------------------
    def estimate(self, row, lines: list[dict]) -> dict[str, Any]:
        """The split by rxlane's own copy of the rules, from the sale row and lines the caller already read."""
        person, filings, _ = patients.load(self.ledger, row["patient_ref"])
        levels = [f["hosp_lv"] for f in filings if f.get("hosp_lv")]
        ytd = person.get("ytd") or {}
        quote = QuoteRequest(
            insutype=row["insutype"], hosp_lv=max(levels) if levels else None, acct_used=bool(row["acct_used"]),
            balc=Decimal(person["balc"]),
            ytd=Ytd(**{k: Decimal(str(ytd.get(k, "0"))) for k in
                       ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")}),
            lines=[QuoteLine(med_list_codg=l["med_list_codg"], category=l["category"], price=Decimal(l["price"]),
                             qty=Decimal(l["qty"]), payment_standard=Decimal(l["payment_standard"]),
                             eligible=bool(l["eligible"]), donated=bool(l["donated"]),
                             reasons=tuple(json.loads(l["reasons_json"])))
                   for l in lines])
        return policy_split(self.policy, quote).to_dict()

    def _check_settleable(self, row, lines: list[dict], confirm: bool) -> None:
        """Ineligible lines need the pharmacist's confirmation of full self-pay; some cannot be confirmed at all:
        an unusable prescription authorises no dispensing (national §5), and no sale may exceed the payment
        standard (Chongqing §五(一))."""
        blocked = [l for l in lines if not l["eligible"] and not l["donated"]]
        hard = [l for l in blocked if UNCONFIRMABLE & set(json.loads(l["reasons_json"]))]
        shown = hard if confirm else blocked
        if shown:
            codes = sorted({c for l in shown for c in json.loads(l["reasons_json"])})
            details = {"lines": [{"line_no": l["line_no"], "med_list_codg": l["med_list_codg"],
                                  "reasons": [reason(c) for c in json.loads(l["reasons_json"])]} for l in shown],
                       "confirmable": not hard}
            if codes == ["PRICE_ABOVE_STANDARD"]:
                raise RxlaneError("PRICE_ABOVE_STANDARD", details=details)
            if hard:
                raise RxlaneError("LINES_INELIGIBLE", message="Some lines cannot be sold on this prescription.",
                                  message_zh="部分药品不能按此处方调剂（处方不属于该患者、已过期、已调剂或已撤销），"
                                             "请核对处方。", details=details)
            raise RxlaneError("LINES_INELIGIBLE", details=details)

    def _settle_input(self, row, lines: list[dict], confirm: bool) -> dict[str, Any]:
        prow = self.ledger.patient(row["patient_ref"])
        rx = json.loads(row["rx_json"]) if row["rx_json"] else {}
        stamp = now()
        body = tx.settle_input(
            psn_no=row["psn_no"], mdtrt_cert_type=prow["cert_type"], mdtrt_cert_no=prow["cert_no"],
            insutype=row["insutype"], acct_used=bool(row["acct_used"]),
            lines=[tx.DrugLine(
                feedetl_sn=f"{row['id']}-{l['line_no']}", med_list_codg=l["med_list_codg"],
                cnt=Decimal(l["qty"]), pric=Decimal(l["price"]), rxno=row["hi_rxno"] or "",
                rx_circ_flag="1" if row["hi_rxno"] else "0", fee_ocur_time=stamp,
                bilg_dr_codg=rx.get("physician_code", ""), bilg_dr_name=rx.get("physician_name", ""),
                # the pharmacist confirmed an ineligible line as wholly self-paid; donated packs never hit the fund
                fulamt_ownpay_flag=bool((not l["eligible"] or l["donated"]) and (confirm or l["donated"])),
                donated_flag=bool(l["donated"])) for l in lines])
        body["data"]["card_sn"] = prow["card_sn"]
        return body

    # -- presettle (2101): nothing moves ---------------------------------------------------------------------
    def presettle(self, sale_id: str, confirm_selfpay: bool | None = None) -> dict[str, Any]:
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] not in (DRAFT, PRESETTLED, REVERSED):
                raise self._state_error(row["state"], "presettled")
            confirm = bool(row["confirm_selfpay"]) if confirm_selfpay is None else confirm_selfpay
            lines = self._lines(sale_id)
            self._check_settleable(row, lines, confirm)
            estimate = self.estimate(row, lines)
            out = self.upstream.query("2101", self._settle_input(row, lines, confirm),
                                      insuplc_admdvs=self._insuplc(row))
            crash_point("presettle.after_send")
            with insurer_data("2101"):
                insurer = split_from_answer(out, estimate)
            mismatch = compare(insurer, estimate)
            with self.ledger.transaction(durable=False) as c:
                self._move(c, sale_id, (DRAFT, PRESETTLED, REVERSED), PRESETTLED,
                           confirm_selfpay=int(confirm),
                           presettle_json=dumps({"split": insurer, "estimate": estimate, "mismatch": mismatch}))
                if mismatch:
                    self.ledger.audit("estimate_mismatch", sale_id, {"step": "2101", "mismatch": mismatch}, conn=c)
            self._publish(sale_id, PRESETTLED)
            return {"split": insurer, "estimate": estimate, "mismatch": mismatch}

    def _insuplc(self, row) -> str:
        person, _, _ = patients.load(self.ledger, row["patient_ref"])
        return person["insuplc_admdvs"]

    # -- settle (2102): journal before send, never twice -----------------------------------------------------
    def settle(self, sale_id: str, confirm_selfpay: bool | None = None) -> dict[str, Any]:
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] not in SETTLEABLE:
                raise self._state_error(row["state"], "settled")
            confirm = bool(row["confirm_selfpay"]) if confirm_selfpay is None else confirm_selfpay
            lines = self._lines(sale_id)
            self._check_settleable(row, lines, confirm)
            packs.check_counts(self.ledger, sale_id, lines)
            estimate = self.estimate(row, lines)
            env = self.upstream.prepare("2102", self._settle_input(row, lines, confirm),
                                        insuplc_admdvs=self._insuplc(row))
            crash_point("settle.before_journal")
            with self.ledger.transaction() as c:
                self._move(c, sale_id, SETTLEABLE, SETTLING, settle_msgid=env.msgid, confirm_selfpay=int(confirm),
                           estimate_json=dumps(estimate))
                self.ledger.journal_request(env.msgid, "2102", env.body, sale_id, conn=c)
            crash_point("settle.after_journal")
            self._publish(sale_id, SETTLING)
            try:
                answer = self.upstream.send_journaled(env)
                crash_point("settle.after_send")
            except OutcomeUnknown:
                self._mark_in_doubt(sale_id, SETTLING, IN_DOUBT)
                raise RxlaneError("SETTLEMENT_IN_DOUBT", details={"sale_id": sale_id, "msgid": env.msgid})
            except RxlaneError as exc:
                with self.ledger.transaction() as c:
                    self._move(c, sale_id, (SETTLING,), row["state"], last_error_json=dumps(exc.to_body()))
                self._publish(sale_id, row["state"])
                raise
            try:
                insurer = split_from_answer(answer.output, estimate)
            except UNREADABLE:
                # infcode 0 but no readable settlement: money may have moved; resolve by reversal like a lost answer
                self.ledger.journal_answer(env.msgid, "unknown", answer=answer.raw, err_msg="unreadable setlinfo")
                self._mark_in_doubt(sale_id, SETTLING, IN_DOUBT)
                raise RxlaneError("SETTLEMENT_IN_DOUBT", details={"sale_id": sale_id, "msgid": env.msgid}) from None
            return self._record_settlement(sale_id, env.msgid, answer.output, answer.raw, insurer, estimate)

    def _record_settlement(self, sale_id: str, msgid: str, output: dict, raw: dict, insurer: dict,
                           estimate: dict) -> dict:
        mismatch = compare(insurer, estimate)
        setl = output.get("setlinfo") or {}
        with self.ledger.transaction() as c:
            self.ledger.journal_answer(msgid, "answered", answer=raw, infcode=0, conn=c)
            self._move(c, sale_id, (SETTLING, IN_DOUBT), SETTLED, setl_id=str(setl.get("setl_id", "")),
                       mdtrt_id=str(setl.get("mdtrt_id", "")), setl_time=str(setl.get("setl_time") or now()),
                       split_json=dumps(insurer), mismatch_json=dumps(mismatch), last_error_json=None)
            self.ledger.audit("settlement", sale_id, {"msgid": msgid, "setl_id": setl.get("setl_id"),
                                                      "medfee_sumamt": insurer["medfee_sumamt"],
                                                      "fund_pay_sumamt": insurer["fund_pay_sumamt"],
                                                      "psn_cash_pay": insurer["psn_cash_pay"]}, conn=c)
            if mismatch:
                self.ledger.audit("estimate_mismatch", sale_id, {"step": "2102", "mismatch": mismatch}, conn=c)
            enqueue_sale_uploads(c, sale_id, refund=False)
        crash_point("settle.after_answer")
        self._publish(sale_id, SETTLED)
        if self.on_uploads:
            self.on_uploads()
        return {"split": insurer, "estimate": estimate, "mismatch": mismatch}

    def _mark_in_doubt(self, sale_id: str, frm: str, to: str) -> None:
        with self.ledger.transaction() as c:
            self._move(c, sale_id, (frm,), to)
            self.ledger.audit("in_doubt", sale_id, {"from": frm}, conn=c)
        self._publish(sale_id, to)
        if self.on_in_doubt:
            self.on_in_doubt(sale_id)

    # -- refund (2103) --------------------------------------------------------------------------------------
    def refund(self, sale_id: str, why: str = "", lines: list[int] | None = None) -> dict[str, Any]:
        """Cancel the whole settlement: the insurer cancels a settlement as a whole (2103 takes a setl_id), so a
        subset of lines is refused with its reason rather than silently refunding everything."""
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] != SETTLED:
                raise self._state_error(row["state"], "refunded")
            whole = {l["line_no"] for l in self._lines(sale_id)}
            if lines is not None and set(lines) != whole:
                raise RxlaneError("PARTIAL_REFUND_UNSUPPORTED", details={"lines": sorted(whole)})
            env = self.upstream.prepare("2103", tx.cancel_input(row["setl_id"], row["mdtrt_id"], row["psn_no"]),
                                        insuplc_admdvs=self._insuplc(row))
            with self.ledger.transaction() as c:
                self._move(c, sale_id, (SETTLED,), REFUNDING)
                self.ledger.journal_request(env.msgid, "2103", env.body, sale_id, conn=c)
            crash_point("refund.after_journal")
            try:
                answer = self.upstream.send_journaled(env)
                crash_point("refund.after_send")
            except OutcomeUnknown:
                self._mark_in_doubt(sale_id, REFUNDING, REFUND_IN_DOUBT)
                raise RxlaneError("SETTLEMENT_IN_DOUBT", details={"sale_id": sale_id, "msgid": env.msgid})
            except RxlaneError:
                with self.ledger.transaction() as c:
                    self._move(c, sale_id, (REFUNDING,), SETTLED)
                raise
            try:
                reversing = tx.parse_setlinfo(answer.output)
                refund_split = reversing.split()
            except UNREADABLE:
                # infcode 0 but unreadable: the insurer may have cancelled; resolve by reversal like a lost answer
                self.ledger.journal_answer(env.msgid, "unknown", answer=answer.raw, err_msg="unreadable setlinfo")
                self._mark_in_doubt(sale_id, REFUNDING, REFUND_IN_DOUBT)
                raise RxlaneError("SETTLEMENT_IN_DOUBT", details={"sale_id": sale_id, "msgid": env.msgid}) from None
            return self._record_refund(sale_id, env.msgid, reversing.setl_id, refund_split, answer.raw, why)

    def _record_refund(self, sale_id: str, msgid: str, setl_id: str, split: dict, raw: dict, why: str) -> dict:
        refund = {"msgid": msgid, "setl_id": setl_id, "reason": why, "refunded_at": now(), "split": split}
        with self.ledger.transaction() as c:
            self.ledger.journal_answer(msgid, "answered", answer=raw, infcode=0, conn=c)
            self._move(c, sale_id, (REFUNDING, REFUND_IN_DOUBT), REFUNDED, refund_json=dumps(refund))
            c.execute("UPDATE trace_codes SET released = 1 WHERE sale_id = ?", (sale_id,))
            self.ledger.audit("refund", sale_id, {"msgid": msgid, "setl_id": refund["setl_id"], "reason": why},
                              conn=c)
            enqueue_sale_uploads(c, sale_id, refund=True)
        crash_point("refund.after_answer")
        self._publish(sale_id, REFUNDED)
        if self.on_uploads:
            self.on_uploads()
        return refund

    # -- in-doubt resolution: reverse (2601) the original message, never resend it ---------------------------
    def resolve(self, sale_id: str) -> str:
        """Reverse the unanswered 2102 (→ reversed) or 2103 (→ settled again). Returns the sale's new state."""
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] not in (IN_DOUBT, REFUND_IN_DOUBT):
                return row["state"]
            if row["state"] == IN_DOUBT:
                omsgid, oinfno, after = row["settle_msgid"], "2102", REVERSED
            else:
                entry = self.ledger.query_one("SELECT msgid FROM journal WHERE sale_id = ? AND infno = '2103' "
                                              "ORDER BY created_at DESC, msgid DESC LIMIT 1", (sale_id,))
                omsgid, oinfno, after = entry["msgid"], "2103", SETTLED
            env = self.upstream.prepare("2601", tx.reversal_input(row["psn_no"], omsgid, oinfno),
                                        insuplc_admdvs=self._insuplc(row))
            self.ledger.journal_request(env.msgid, "2601", env.body, sale_id)
            crash_point("resolve.after_journal")
            try:
                answer = self.upstream.send_journaled(env)
                crash_point("resolve.after_send")
            except OutcomeUnknown:
                return row["state"]   # still unknown: the next attempt sends a new 2601 (reversal is idempotent)
            with self.ledger.transaction() as c:
                self.ledger.journal_answer(env.msgid, "answered", answer=answer.raw, infcode=0, conn=c)
                self.ledger.journal_answer(omsgid, "reversed", conn=c)
                extra = {"setl_id": None, "mdtrt_id": None, "split_json": None} if after == REVERSED else {}
                self._move(c, sale_id, (row["state"],), after, **extra)
                self.ledger.audit("reversal", sale_id, {"omsgid": omsgid, "oinfno": oinfno, "msgid": env.msgid},
                                  conn=c)
            self._publish(sale_id, after)
            return after

    def adopt_settlement(self, sale_id: str, setlinfo: dict[str, Any], *, source: str) -> str:
        """Reconciliation found the insurer holding a settlement for a sale we hold in doubt: record it as settled
        (its setl_id, its amounts) instead of reversing a payment that did happen."""
        with self._lock(sale_id):
            row = self._row(sale_id)
            if row["state"] != IN_DOUBT:
                return row["state"]
            estimate = json.loads(row["estimate_json"] or "{}")
            output = {"setlinfo": setlinfo}
            self._record_settlement(sale_id, row["settle_msgid"], output, {"source": source, "output": output},
                                    split_from_answer(output, estimate), estimate)
            return SETTLED

    def find_by_setl_id(self, setl_id: str) -> str | None:
        row = self.ledger.query_one("SELECT id FROM sales WHERE setl_id = ?", (setl_id,))
        return row["id"] if row else None

    def in_doubt_ids(self) -> list[str]:
        return [r["id"] for r in self.ledger.query(
            "SELECT id FROM sales WHERE state IN (?, ?) ORDER BY updated_at", (IN_DOUBT, REFUND_IN_DOUBT))]
