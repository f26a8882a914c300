"""The uploads that follow a sale, sent until delivered (docs/reconciliation.md, "Uploads" and "Refusals").

A settlement queues a *plan* per chain (``goods``: 3505/3505A, later 3506; ``rx``: 7204 then 7206) in the
settlement's own transaction, together with who was on duty. The drain turns each plan into its messages
(plugin/uploads.py) — or, when a required field is missing, into a row that *waits* and names what is missing —
and sends them through the journaled exchange, in order within a chain.

What an answer means:

- accepted (infcode 0 and no ``retRslt`` "0") → done;
- a business refusal (``retRslt`` "0", the insurer's reason in ``msgRslt``), or a refusal whose text matches the
  profile's ``[uploads] permanent_patterns`` (the code already sold elsewhere …) → parked at once with the insurer's
  words: the sale, ``/v1/health`` and ``rxlane outbox`` show it with the fix; never retried blind;
- anything else (a refusal that may pass, nothing sent, no answer) → retried with plugin/retry.py's backoff and
  jitter; a lost answer is resent under the same msgid (the insurer recognises the message), a refused one as a new
  message; out of attempts → parked.

A refund returns (3506) exactly what may have reached the insurer; what certainly did not is superseded. The
interface cannot reopen a dispensed prescription: a 7206 still unsent at the refund is superseded (the prescription
stays open at the platform); one already delivered stays (docs/reconciliation.md says what the pharmacist does).
"""
from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from adapters.nhsa import uploads as tx
from adapters.nhsa.profile import load_profile
from plugin import uploads as plan
from plugin.config import PharmacistSettings
from plugin.crashpoints import crash_point
from plugin.errors import ERRORS, InvalidInput, NotFound, RxlaneError, UpstreamRefused
from plugin.exchange import Exchange, OutcomeUnknown
from plugin.privacy import scrub
from plugin.retry import OUTBOX, RetryPolicy, permanent
from plugin.store import Connection, Ledger, now
from plugin.store.journal import REFUSED, UNSENT
from plugin.store.outbox import DONE, PARKED, PENDING, REFUSED_REASON, SUPERSEDED, WAITING, OutboxRow
from plugin.upstream import Upstream

MISSING_REASON, EXHAUSTED_REASON = "UPLOAD_DETAILS_MISSING", "UPLOAD_RETRIES_EXHAUSTED"
GOODS, RX = "goods", "rx"


class _Superseded(Exception):
    """The row changed hands between reading and sending (a refund superseded it, another process took it)."""


def fix(reason: str | None) -> dict[str, str] | None:
    """What to do about a waiting or parked row, in both languages (the error catalogue's sentences)."""
    spec = ERRORS.get(reason or "")
    return {"code": spec.code, "message": spec.message, "message_zh": spec.message_zh} if spec else None


def row_view(r: OutboxRow) -> dict[str, Any]:
    """An outbox row as `rxlane outbox`, health and the sale show it (never its message body)."""
    view: dict[str, Any] = {"id": r.id, "infno": r.infno, "sale_id": r.sale_id, "chain": r.chain, "state": r.state,
                            "attempts": r.attempts, "next_at": r.next_at, "msgid": r.msgid,
                            "created_at": r.created_at, "last_error": r.last_error, "reason": r.reason}
    if r.body.get("plan"):
        view["planning"] = r.body["plan"]
    if r.body.get("missing"):
        view["missing"] = r.body["missing"]
    if r.body.get("codes"):
        view["codes"] = r.body["codes"]
    if r.state in (PARKED, WAITING):
        view["fix"] = fix(r.reason)
    return view


def drug_description(catalog: Any, code: str) -> dict[str, str]:
    """What the province's dual-channel list says of a drug that 7206 reports (its dosage form); {} without."""
    try:
        listed = catalog.dual_channel_list()
    except RxlaneError:
        return {}
    entry = listed.entry(code) if listed is not None else None
    return {"drug_dosform": entry.dosage_form} if entry is not None and entry.dosage_form else {}


def sale_uploads(ledger: Ledger, sale_id: str) -> dict[str, Any]:
    """The ``uploads`` section of a sale (``GET /v1/sales/{id}``): ``state`` (none, sending, waiting, refused,
    done), what is ``missing`` per line (None: the sale), the insurer's refusals with the fix, every message."""
    rows = [r for r in ledger.outbox.shown_for_sale(sale_id) if r.state != SUPERSEDED]
    missing = _merged_missing(m for r in rows if r.state == WAITING for m in r.body.get("missing", []))
    refused = [{"id": r.id, "infno": r.infno, "err_msg": r.last_error, "msgid": r.msgid, "reason": r.reason,
                "fix": fix(r.reason)} for r in rows if r.state == PARKED]
    if not rows:
        state = "none"
    elif refused:
        state = "refused"
    elif missing:
        state = "waiting"
    elif all(r.state == DONE for r in rows):
        state = "done"
    else:
        state = "sending"
    return {"state": state, "missing": missing, "refused": refused, "messages": [row_view(r) for r in rows]}


def _merged_missing(entries: Any) -> list[dict[str, Any]]:
    """One entry per line (None: the sale's own) across the waiting messages, fields in the order first named."""
    out: dict[Any, dict[str, Any]] = {}
    for m in entries:
        had = out.setdefault(m["line_no"], {"line_no": m["line_no"], "fields": [], "wire": [], "for": []})
        for key in ("fields", "wire", "for"):
            had[key] += [v for v in m.get(key, []) if v not in had[key]]
    return [out[k] for k in sorted(out, key=lambda n: -1 if n is None else n)]


class Outbox:
    def __init__(self, ledger: Ledger, upstream: Upstream | None, *, opter: str = "", opter_name: str = "",
                 pharmacists: list[PharmacistSettings] | None = None, retry: RetryPolicy = OUTBOX,
                 rng: random.Random | None = None, describe: Callable[[str], dict[str, str]] | None = None,
                 upload_kinds: tuple[str, ...] | None = None):
        self.ledger = ledger
        self.upload_kinds = upload_kinds   # pack kinds the gateway takes (plugin/packs.py uploaded_kinds); None: all
        self.exchange = Exchange(ledger, upstream)
        # upstream None: a listing that never sends (`rxlane outbox` beside a running service)
        self.profile = upstream.client.profile if upstream is not None else load_profile("national")
        self.ctx = plan.Context(profile=self.profile, opter_name=opter_name or opter)
        self.pharmacists = list(pharmacists or [])
        self.describe = describe or (lambda code: {})
        self.retry_policy = retry
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    # -- what it holds ------------------------------------------------------------------------------------------
    def depth(self) -> dict[str, Any]:
        pending, oldest, parked, waiting = self.ledger.outbox.depth()
        oldest_age = None
        if oldest:
            oldest_age = int((datetime.now() - datetime.fromisoformat(oldest)).total_seconds())
        return {"pending": pending, "parked": parked, "waiting": waiting, "oldest_age_s": oldest_age}

    def rows(self, state: str | None = None, *, unfinished: bool = False) -> list[dict[str, Any]]:
        return [row_view(r) for r in self.ledger.outbox.rows(state, unfinished=unfinished)]

    def problems(self, limit: int = 20) -> list[dict[str, Any]]:
        """Parked and waiting rows, refusals first, then newest first: what health names."""
        rows = self.ledger.outbox.problems(limit)
        # health is public on the counter PC and goes to HQ: the insurer's text, with any ID number masked
        return [{"id": r.id, "sale_id": r.sale_id, "infno": r.infno, "state": r.state, "reason": r.reason,
                 "error": scrub(r.last_error or "")} for r in rows]

    def for_sale(self, sale_id: str) -> dict[str, Any]:
        return sale_uploads(self.ledger, sale_id)

    def retry(self, row_id: int | None = None) -> int:
        """Make parked or waiting-on-time rows due now (`rxlane outbox --retry`)."""
        return self.ledger.outbox.make_due(row_id)

    # -- sending ------------------------------------------------------------------------------------------------
    def drain(self, batch: int = 50, max_rounds: int = 100) -> int:
        """Plan and send due rows until none is left (each row once per call); returns how many were delivered."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            delivered, tried = 0, set[int]()
            for _ in range(max_rounds):
                due = [r for r in self.ledger.outbox.due(batch + len(tried)) if r.id not in tried][:batch]
                if not due:
                    break
                for row in due:
                    tried.add(row.id)
                    if row.body.get("plan") or "input" not in row.body:
                        self._expand(row)
                        tried.discard(row.id)      # its first message took its place: send it this round
                    else:
                        delivered += self._deliver(row)
            return delivered
        finally:
            self._lock.release()

    def _expand(self, row: OutboxRow) -> None:
        """A plan becomes its messages — or waits, naming what is missing."""
        kind, only = row.body.get("plan"), set(row.body.get("only") or ())
        sale_id = row.sale_id or ""
        if kind is None:   # queued by an rxlane before plans: {"sale_id", "batch"} or {"sale_id", "cancel"}
            if (row.infno == "7206" and row.body.get("cancel")) or int(row.body.get("batch") or 0) > 0:
                with self.ledger.transaction() as c:
                    self.ledger.outbox.supersede(c, [row.id], "the interface has no reopening; or covered by batch 0")
                return
            kind = {"3505": "sale", "7204": "rx", "7206": "rx"}.get(row.infno, "")
            only = {row.infno} if kind == "rx" else set()
        try:
            if kind == "return":
                infno, result = "3506", self._plan_returns(row)
            elif kind == "rx":
                infno, result = "7204", plan.plan_rx(self.ctx, self._facts(sale_id))
            elif kind == "sale":
                codes = set(row.body["codes"]) if row.body.get("codes") else None
                infno, result = "3505", plan.plan_sale(self.ctx, self._facts(sale_id), codes)
            else:
                self._failed(row, "an upload queued by an older rxlane that the interface cannot carry",
                             park=True, reason=REFUSED_REASON)
                return
        except RxlaneError as exc:
            self._failed(row, exc.message, park=False)
            return
        with self.ledger.transaction(durable=False) as c:
            if not result.ready:
                missing = [m.to_dict() for m in result.missing]
                self.ledger.outbox.wait(c, row.id, {**row.body, "plan": kind, "missing": missing},
                                        "missing: " + "; ".join(f"line {m['line_no'] or '-'}: {', '.join(m['fields'])}"
                                                                for m in missing), MISSING_REASON)
                return
            messages: list[tuple[str, dict[str, Any], str, str | None]] = []
            for n, message in enumerate(result.messages):
                message_infno = ("7204", "7206")[n] if kind == "rx" else infno
                if only and message_infno not in only:
                    continue
                carried = [c for item in _items(message) for c in tx.item_codes(item)]
                messages.append((message_infno, {"sale_id": sale_id, "input": message, "codes": carried},
                                 PENDING, None))
            self.ledger.outbox.replace(c, row.id, messages)

    def _plan_returns(self, row: OutboxRow) -> plan.Plan:
        sold = [r.body["input"] for r in self.ledger.outbox.for_sale(row.sale_id or "")
                if r.id in set(row.body.get("of") or ()) and "input" in r.body]
        sale = self.ledger.sales.get(row.sale_id or "")
        refund = sale.refund or {}
        return plan.plan_returns(self.ctx, sold, when=str(refund.get("refunded_at") or now()),
                                 setl_id=str(refund.get("setl_id") or sale.setl_id or ""),
                                 memo=str(refund.get("reason") or "")[:500])

    def _facts(self, sale_id: str) -> plan.SaleFacts:
        sale = self.ledger.sales.get(sale_id)
        prow = self.ledger.patients.get(sale.patient_ref)
        person = prow.person if prow else {}
        certno = str(person.get("certno") or "")
        patient = plan.Patient(psn_no=sale.psn_no, certno=certno, psn_name=str(person.get("psn_name") or ""),
                               psn_cert_type=str(person.get("psn_cert_type") or ("01" if len(certno) == 18 else "")))
        packs = tuple(p for p in self.ledger.trace_codes.for_sale(sale_id)
                      if self.upload_kinds is None or p.kind in self.upload_kinds)
        return plan.SaleFacts(sale=sale, packs=packs, patient=patient,
                              facts=self.ledger.upload_facts.of_sale(sale_id),
                              stock={ln.med_list_codg: tuple(self.ledger.stock.for_drug(ln.med_list_codg))
                                     for ln in sale.lines},
                              drugs={ln.med_list_codg: self.describe(ln.med_list_codg) for ln in sale.lines})

    def _insuplc(self, sale_id: str) -> str:
        ref = self.ledger.sales.patient_ref(sale_id)
        if ref is None:
            raise NotFound("sale", id=sale_id[:64])
        prow = self.ledger.patients.get(ref)
        return str((prow.person if prow else {}).get("insuplc_admdvs", ""))

    def _deliver(self, row: OutboxRow) -> bool:
        if self.ledger.outbox.state(row.id) != PENDING:
            return False    # superseded since this round began
        sale_id = row.sale_id or ""
        node = self.profile.answers.get(row.infno, "result")

        def journaled(c: Connection, msgid: str) -> None:
            if not self.ledger.outbox.attempt(c, row.id, msgid, row.msgid):
                raise _Superseded()

        try:
            reply = self.exchange.send(row.infno, tx.revive(row.body["input"]), sale_id=row.sale_id, label="outbox",
                                       insuplc_admdvs=self._insuplc(sale_id), msgid=row.msgid, retry=True,
                                       read=lambda a: tx.parse_upload_result(a.output, node), journaled=journaled)
        except _Superseded:
            return False
        except OutcomeUnknown:
            self._failed(row, "answer lost; the same message will be sent again", park=False)
            return False
        except UpstreamRefused as exc:
            self._refused(row, exc.err_msg or exc.message,
                          certain=permanent(exc.err_msg, self.profile.uploads.permanent_patterns))
            return False
        except RxlaneError as exc:
            self._failed(row, exc.message, park=False)
            return False
        result = reply.value
        with self.ledger.transaction(durable=False) as c:
            if result.accepted:
                reply.record(c, durable=False)
                self.ledger.outbox.delivered(c, row.id)
            else:   # infcode 0, yet the insurer refused it: journaled as the refusal it is
                self.ledger.journal.answer(reply.msgid, REFUSED, answer=reply.answer.raw, infcode=0,
                                           err_msg=result.message, conn=c)
        if not result.accepted:
            self._refused(row, result.message, certain=True)
            return False
        crash_point("outbox.after_answer")
        return True

    def _refused(self, row: OutboxRow, err_msg: str, *, certain: bool) -> None:
        """The insurer said no. A sale report (3505) or dispensing result (7206) of a sale refunded while it was on
        its way can never be accepted — the settlement it names is cancelled — and is superseded; a refused 3505's
        return (3506) has nothing to return and goes with it. A 7206 names the same packs as the 3505 but returns
        nothing: the 3505's own 3506 still has packs to return and stays. Otherwise a refusal no retry changes is
        parked at once; another is retried as a new message."""
        if row.infno in ("3505", "7206") and self.ledger.sales.state(row.sale_id or "") == "refunded":
            with self.ledger.transaction() as c:
                moot = [row.id] + (self._returns_of(c, row) if row.infno == "3505" else [])
                self.ledger.outbox.supersede(c, moot, f"refunded while on its way; the insurer refused it: {err_msg}")
            return
        self._failed(row, err_msg, park=certain, reason=REFUSED_REASON if certain else None, keep_msgid=False)

    def _returns_of(self, c: Connection, row: OutboxRow) -> list[int]:
        """The unfinished 3506 rows (plans or messages) that would return this 3505's packs and nothing else; a plan
        that also returns other reports forgets this one."""
        out = []
        codes = set(row.body.get("codes") or ())
        for other in self.ledger.outbox.for_sale(row.sale_id or "", c):
            if other.infno != "3506" or other.state not in (PENDING, WAITING, PARKED):
                continue
            if other.body.get("plan") == "return" and row.id in (other.body.get("of") or []):
                rest = [i for i in other.body["of"] if i != row.id]
                if rest:
                    self.ledger.outbox.resume(c, [other.id], {**other.body, "of": rest})
                else:
                    out.append(other.id)
            elif codes and set(other.body.get("codes") or ()) <= codes:
                out.append(other.id)
        return out

    def _failed(self, row: OutboxRow, error: str, *, park: bool, reason: str | None = None,
                keep_msgid: bool = True) -> None:
        attempts = row.attempts + 1
        exhausted = self.retry_policy.exhausted(attempts)
        if exhausted and not park:
            reason = reason or EXHAUSTED_REASON
        next_at = datetime.now() + timedelta(seconds=self.retry_policy.delay(attempts, self._rng))
        self.ledger.outbox.failed(row.id, state=PARKED if park or exhausted else PENDING, attempts=attempts,
                                  next_at=next_at.isoformat(sep=" ", timespec="seconds"), error=error,
                                  reason=reason if (park or exhausted) else None, keep_msgid=keep_msgid)

    # -- details the pharmacist supplies --------------------------------------------------------------------------
    def staff(self, prac_cert_no: str) -> dict[str, str]:
        """A roster entry by licence number, as the uploads keep it; PHARMACIST_UNKNOWN otherwise."""
        person = next((p for p in self.pharmacists if p.prac_cert_no == prac_cert_no), None)
        if person is None:
            raise RxlaneError("PHARMACIST_UNKNOWN", details={"prac_cert_no": prac_cert_no[:50]})
        return {"name": person.name, "certno": person.certno, "cert_type": person.cert_type,
                "prac_cert_no": person.prac_cert_no}

    def supply(self, sale_id: str, *, lines: dict[int, dict[str, str]], sale: dict[str, str]) -> dict[str, Any]:
        """Record what the pharmacist supplied (``lines``: line_no → lot, manu_date, expy_end, drug details;
        ``sale``: pharmacist / checker licence numbers, prescriber_name) and send again what waited for it — or
        what the insurer refused, for the lines (or the sale) the details concern. Returns the sale's uploads."""
        known = {ln.line_no for ln in self.ledger.sales.get(sale_id).lines}
        for line_no in lines:
            if line_no not in known:
                raise InvalidInput(f"The sale has no line {line_no}.", f"销售单没有第{line_no}行。", field="lines")
        sale_facts: dict[str, Any] = {}
        for role in ("pharmacist", "checker"):
            if sale.get(role):
                sale_facts[role] = self.staff(sale[role])
        if sale.get("prescriber_name"):
            sale_facts["prescriber_name"] = sale["prescriber_name"]
        with self.ledger.transaction() as c:
            for line_no, values in lines.items():
                self.ledger.upload_facts.merge(c, sale_id, line_no, values)
            if sale_facts:
                self.ledger.upload_facts.merge(c, sale_id, 0, sale_facts)
            self._again(c, sale_id, set(lines), bool(sale_facts))
        return self.for_sale(sale_id)

    def _again(self, c: Connection, sale_id: str, line_nos: set[int], whole_sale: bool) -> None:
        rows = self.ledger.outbox.for_sale(sale_id, c)
        for r in rows:
            if r.state == WAITING:   # planned again at the next drain, with what was just supplied
                self.ledger.outbox.resume(c, [r.id], {k: v for k, v in r.body.items() if k != "missing"})
        by_chain: dict[str, list[OutboxRow]] = {}
        held = {p.code: p.line_no for p in self.ledger.trace_codes.for_sale(sale_id, c)}
        for r in rows:
            if r.state != PARKED or r.reason != REFUSED_REASON or "input" not in r.body:
                continue
            lines = {held[code] for code in r.body.get("codes", []) if code in held}
            # an rx message carries every line and both pharmacists: anything supplied may be what it lacked
            if whole_sale or r.chain == RX or lines & line_nos:
                by_chain.setdefault(r.chain, []).append(r)
        for chain, refused in by_chain.items():
            self.ledger.outbox.supersede(c, [r.id for r in refused], "details supplied: planned again")
            if chain == GOODS:
                body: dict[str, Any] = {"sale_id": sale_id, "plan": "sale",
                                        "codes": [code for r in refused for code in r.body.get("codes", [])]}
                self.ledger.outbox.enqueue(c, "3505", sale_id, body, chain=GOODS)
            elif chain == RX:
                self.ledger.outbox.enqueue(c, "7204", sale_id, {"sale_id": sale_id, "plan": "rx",
                                                               "only": sorted({r.infno for r in refused})}, chain=RX)


def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("selinfoDetail", "selinfo"):
        value = message.get(key)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
        if isinstance(value, dict):
            return [value]
    return []


# -- queueing, in the settlement's (or the refund's) own transaction ------------------------------------------------
def enqueue_sale_uploads(ledger: Ledger, conn: Connection, sale_id: str, *, refund: bool) -> None:
    """At a settlement: who is on duty now, and a plan per chain (the drain makes the messages). At a refund:
    return what may have reached the insurer, supersede what certainly did not."""
    if refund:
        _refund(ledger, conn, sale_id)
        return
    duty = ledger.duty.current(conn)
    snapshot: dict[str, Any] = {role: {k: v for k, v in duty[role].items() if k != "since"}
                                for role in ("pharmacist", "checker") if role in duty}
    if snapshot:
        ledger.upload_facts.merge(conn, sale_id, 0, snapshot)
    ledger.outbox.enqueue(conn, "3505", sale_id, {"sale_id": sale_id, "plan": "sale"}, chain=GOODS)
    if ledger.sales.get_hi_rxno(conn, sale_id):
        ledger.outbox.enqueue(conn, "7204", sale_id, {"sale_id": sale_id, "plan": "rx"}, chain=RX)


def _maybe_delivered(row: OutboxRow, sent: str | None) -> bool:
    """Could this message have reached the insurer? Done, or sent with no answer (or an accepted one) recorded."""
    if row.state == DONE:
        return True
    if row.body.get("plan") or row.msgid is None:
        return False
    return sent not in (REFUSED, UNSENT)


def _refund(ledger: Ledger, conn: Connection, sale_id: str) -> None:
    returned = []
    for chain in (GOODS, RX):
        moot = []
        for row, sent in ledger.outbox.open_in_chain(conn, sale_id, chain):
            if _maybe_delivered(row, sent):
                if chain == GOODS and row.infno == "3505":
                    returned.append(row.id)
            elif row.state != DONE:
                moot.append(row.id)
        ledger.outbox.supersede(conn, moot, "refunded before it reached the insurer")
    if returned:
        ledger.outbox.enqueue(conn, "3506", sale_id, {"sale_id": sale_id, "plan": "return", "of": returned},
                              chain=GOODS)
