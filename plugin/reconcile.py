"""Daily reconciliation with the insurer (docs/architecture.md; docs/gateway.md 3201 对总账, 3202 明细对账).

Once a day the pharmacy's books are held against the insurer's: 3201 compares the totals of the day's settled
sales per insutype and clearing type, 3202 compares every settlement row by row. Every difference is listed; where
the rule is clear the ledger is repaired and the repair audited:

- a sale we hold ``in_doubt`` whose 2102 the insurer has as *settled* → recorded as settled with the insurer's
  amounts (``SaleService.adopt_settlement`` when the service has it) or, failing that, reversed with 2601 so both
  sides agree that nothing moved (``SaleService.resolve``);
- any other ``in_doubt`` / ``refund_in_doubt`` sale → resolved the usual way (2601 of the unanswered message).

Nothing else is repaired automatically: a settlement the insurer has that we cannot tie to a sale, or amounts that
differ, are a pharmacist's or HQ's call. 3201/3202 move no money, so they are plain queries (no journal).

The "day" is the insurer's: a sale belongs to the day of its ``setl_time`` (the insurer's clock), as the insurer
counts it. The pure parts (totals, detail rows, differences, matching, ``due``) take values and return values.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Iterable

from adapters.nhsa import reconciliation as tx
from plugin.errors import RxlaneError
from plugin.money import fen, wire

COMPARED = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
CLR_TYPE = "41"            # 定点药店购药: the only med_type rxlane settles, hence its one clearing type
AUDIT_KIND = "reconciliation"

SETTLED, REFUNDED, IN_DOUBT, REFUND_IN_DOUBT = "settled", "refunded", "in_doubt", "refund_in_doubt"
REFUNDING, SETTLING = "refunding", "settling"
# States whose settlement the insurer should hold: settled (refd 0) or cancelled (refd 1).
ON_THE_BOOKS = (SETTLED, REFUNDED, REFUND_IN_DOUBT, REFUNDING)
UNSURE = (IN_DOUBT, REFUND_IN_DOUBT)


# -- what we send ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SaleRow:
    """One of our sales as reconciliation sees it (amounts are the insurer's answer we recorded)."""
    sale_id: str
    state: str
    insutype: str
    psn_no: str
    setl_id: str
    mdtrt_id: str
    settle_msgid: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    in_day: bool = True      # settled on the reconciled day (in-doubt sales of other days are only resolved)

    @property
    def refunded(self) -> bool:
        return self.state == REFUNDED


def totals(rows: Iterable[SaleRow]) -> dict[tuple[str, str], dict[str, Any]]:
    """3201 input per (insutype, clr_type): sums over *settled* sales only — a cancelled settlement is no longer
    in the insurer's totals (adapters/sandbox/reconcile.py counts the same way)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r.state != SETTLED or not r.in_day:
            continue
        t = out.setdefault((r.insutype, CLR_TYPE), {k: Decimal(0) for k in COMPARED} | {"fixmedins_setl_cnt": 0})
        for k in COMPARED:
            t[k] += getattr(r, k)
        t["fixmedins_setl_cnt"] += 1
    return out


def detail_rows(rows: Iterable[SaleRow]) -> list[dict[str, str]]:
    """3202 detail: every settlement the insurer should hold for the day, refunded ones flagged."""
    return [{"setl_id": r.setl_id, "mdtrt_id": r.mdtrt_id, "psn_no": r.psn_no,
             **{k: wire(getattr(r, k)) for k in COMPARED}, "refd_setl_flag": "1" if r.refunded else "0"}
            for r in rows if r.state in ON_THE_BOOKS and r.setl_id and r.in_day]


# -- what the insurer answers, in our words --------------------------------------------------------------------
_KINDS = {"missing_at_insurer": "missing_there", "missing_at_fixmedins": "missing_here",
          "amount_differs": "amount_differs", "state_differs": "state_differs"}


def differences_from_3202(answer: dict[str, Any], ours: dict[str, SaleRow]) -> list[dict[str, Any]]:
    """The insurer's differing rows as `{kind, setl_id, sale_id?, …}`; kinds: missing_here (the insurer has a
    settlement we do not), missing_there, amount_differs, state_differs."""
    out = []
    for d in (answer.get("data") or answer).get("differences") or []:
        kind = _KINDS.get(d.get("kind"), d.get("kind") or "unknown")
        row = ours.get(str(d.get("setl_id", "")))
        entry: dict[str, Any] = {"kind": kind, "setl_id": d.get("setl_id"), "sale_id": row.sale_id if row else None}
        if kind == "missing_here":
            entry.update(insurer_state=d.get("insurer_state"), psn_no=d.get("psn_no"), msgid=d.get("msgid"),
                         mdtrt_id=d.get("mdtrt_id"), insurer={k: d[k] for k in COMPARED if k in d})
        elif kind == "missing_there":
            entry.update(ours={k: wire(getattr(row, k)) for k in COMPARED} if row else
                         {k: d.get(f"fixmedins_{k}") for k in COMPARED}, state=row.state if row else None)
        elif kind == "amount_differs":
            entry.update(field=d.get("field"), ours=d.get("fixmedins"), insurer=d.get("insurer"))
        elif kind == "state_differs":
            entry.update(ours=row.state if row else None, insurer=d.get("insurer_state"))
        else:
            entry["insurer_row"] = d
        out.append(entry)
    return out


def match_in_doubt(missing: dict[str, Any], candidates: Iterable[SaleRow]) -> SaleRow | None:
    """The in-doubt sale an unknown insurer settlement belongs to: by the journaled 2102 msgid when the insurer
    names it, else by person and amount when exactly one in-doubt sale fits (never a guess between two)."""
    candidates = [c for c in candidates if c.state == IN_DOUBT]
    msgid = missing.get("msgid")
    if msgid:
        return next((c for c in candidates if c.settle_msgid == msgid), None)
    amount = (missing.get("insurer") or {}).get("medfee_sumamt")
    if amount is None:
        return None
    fits = [c for c in candidates if c.psn_no == missing.get("psn_no") and c.medfee_sumamt == fen(amount)]
    return fits[0] if len(fits) == 1 else None


def insurer_setlinfo(missing: dict[str, Any]) -> dict[str, str]:
    """What 3202 tells of a settlement, as a setlinfo to record: the ids and the three compared amounts; the
    patient's cash share follows from them (docs/policies.md §3: fund + account + cash = total)."""
    amounts = {k: fen(v) for k, v in (missing.get("insurer") or {}).items()}
    info = {"setl_id": str(missing.get("setl_id") or ""), **{k: wire(v) for k, v in amounts.items()}}
    if missing.get("mdtrt_id"):
        info["mdtrt_id"] = str(missing["mdtrt_id"])
    if set(COMPARED) <= set(amounts):
        info["psn_cash_pay"] = wire(amounts["medfee_sumamt"] - amounts["fund_pay_sumamt"] - amounts["acct_pay"])
    return info


# -- when ------------------------------------------------------------------------------------------------------
def parse_at(at: str) -> time:
    try:
        hh, mm = at.strip().split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError):
        raise ValueError(f"reconcile time must be HH:MM, not {at!r}") from None


def last_slot(now: datetime, at: str) -> datetime:
    """The latest scheduled instant at or before `now` (today's `at`, or yesterday's before it)."""
    slot = datetime.combine(now.date(), parse_at(at))
    return slot if now >= slot else slot - timedelta(days=1)


@dataclass(frozen=True)
class Run:
    """One reconciliation as the audit trail records it: when it ran (this PC's clock then) and which day."""
    at: datetime
    day: date


def due(now: datetime, runs: Iterable[Run] | None, at: str) -> bool:
    """Is a reconciliation due? Once per day at `at` ("23:30"): the day of the latest slot at or before `now` is due
    until a run *of that day* has happened after that day's slot; a run missed while the counter PC was off is
    caught up at the next check (even after midnight). Never run before: due from today's `at` on (a fresh install
    has no earlier day to reconcile). An empty `at` disables the schedule.

    Judged by the day each run reconciled, never by the newest timestamp, so the schedule survives clock jumps
    both ways (docs/reliability.md, "Clocks"): runs stamped at a false future date (the clock jumped forward and
    was put right) do not hold the real days back, and after a jump backwards a day already reconciled is not run
    again."""
    if not at:
        return False
    slot = parse_at(at)
    runs = list(runs or ())
    if not runs:
        return now >= datetime.combine(now.date(), slot)
    day = day_due(now, at)
    return not any(r.day == day and r.at >= datetime.combine(r.day, slot) for r in runs)


def day_due(now: datetime, at: str) -> date:
    """The business day a due run reconciles: the day of the slot it catches up (23:30 → that same day)."""
    return last_slot(now, at).date()


RETRY_AFTER = timedelta(minutes=10)
RECENT_RUNS = 60


def recent_runs(ledger: Any, kind: str = AUDIT_KIND, limit: int = RECENT_RUNS) -> list[Run]:
    """The latest runs the audit trail records (newest written first, whatever their stamps say)."""
    out = []
    for stamp, detail in ledger.audit.recent(kind, limit):
        try:
            out.append(Run(at=stamp, day=date.fromisoformat(str(detail.get("date")))))
        except ValueError:
            continue
    return out


def last_run(ledger: Any, kind: str = AUDIT_KIND) -> datetime | None:
    """When the last reconciliation ran (the audit trail is the record; `kind` "reconciliation_failed" for the
    last attempt the insurer could not answer)."""
    return ledger.audit.last_at(kind)


def run_if_due(svc: Any, now: datetime, at: str) -> dict[str, Any] | None:
    """The hook for the recovery loop (called every few seconds): run the day's reconciliation when `due`;
    returns its report, or None when not due. An insurer that cannot answer is asked again after RETRY_AFTER,
    not on every round (a failure stamped far "in the future" — the clock went back since — does not hold it
    back)."""
    if not due(now, recent_runs(svc.ledger), at):
        return None
    failed = recent_runs(svc.ledger, f"{AUDIT_KIND}_failed", 1)
    if failed and abs(now - failed[0].at) < RETRY_AFTER:
        return None
    day = day_due(now, at)
    try:
        return reconcile(svc, day)
    except RxlaneError as exc:
        svc.ledger.audit.append(f"{AUDIT_KIND}_failed", None, {"date": day.isoformat(), "error": exc.code})
        return {"date": day.isoformat(), "ok": False, "error": exc.to_body()["error"]}


# -- the run ---------------------------------------------------------------------------------------------------
def load_rows(ledger: Any, day: date) -> list[SaleRow]:
    """The day's sales the insurer should know about, plus every sale still in doubt (any day). Amounts are the
    insurer's answer where there is one, else the estimate sent with the unanswered 2102."""
    out = []
    for s in ledger.sales.for_reconciliation(day, ON_THE_BOOKS, (IN_DOUBT, REFUND_IN_DOUBT, SETTLING)):
        split = s.split or s.estimate
        zero = Decimal("0")
        out.append(SaleRow(sale_id=s.id, state=s.state.value, insutype=s.insutype, psn_no=s.psn_no,
                           setl_id=s.setl_id or "", mdtrt_id=s.mdtrt_id or "", settle_msgid=s.settle_msgid or "",
                           medfee_sumamt=fen(split.medfee_sumamt if split else s.medfee_sumamt),
                           fund_pay_sumamt=fen(split.fund_pay_sumamt if split else zero),
                           acct_pay=fen(split.acct_pay if split else zero),
                           psn_cash_pay=fen(split.psn_cash_pay if split else zero),
                           in_day=(s.setl_time or "")[:10] == day.isoformat()))
    return out


def _check(svc: Any, day: date) -> tuple[list[SaleRow], list[dict[str, Any]], list[dict[str, Any]]]:
    """Ask 3201 per insutype and 3202 once; returns (our rows, 3201 results, differences)."""
    rows = load_rows(svc.ledger, day)
    span = {"stmt_begndate": day.isoformat(), "stmt_enddate": day.isoformat()}
    results, differences = [], []
    for (insutype, clr_type), t in sorted(totals(rows).items()):
        body = tx.totals_reconciliation_input(**span, insutype=insutype, clr_type=clr_type,
                                              setl_optins=svc.pharmacy_admdvs,
                                              fixmedins_setl_cnt=t["fixmedins_setl_cnt"],
                                              **{k: t[k] for k in COMPARED})
        out = (svc.upstream.query("3201", body).get("data") or {})
        ours = {**{k: wire(t[k]) for k in COMPARED}, "fixmedins_setl_cnt": t["fixmedins_setl_cnt"]}
        results.append({"insutype": insutype, "clr_type": clr_type, "ours": ours,
                        "stmt_rslt": str(out.get("stmt_rslt", "")), "stmt_rslt_dscr": out.get("stmt_rslt_dscr", ""),
                        "insurer": out.get("insurer_totals")})
        if str(out.get("stmt_rslt")) != "0":
            differences.append({"kind": "totals_differ", "insutype": insutype, "clr_type": clr_type,
                                "ours": ours, "insurer": out.get("insurer_totals"),
                                "detail": out.get("stmt_rslt_dscr", "")})
    # the header's totals are summed by the builder from the very rows the detail marks live
    body = tx.detail_reconciliation_input(**span, rows=detail_rows(rows), setl_optins=svc.pharmacy_admdvs)
    answer = svc.upstream.query("3202", body)
    by_setl = {r.setl_id: r for r in rows if r.setl_id}
    differences += differences_from_3202(answer, by_setl)
    for r in rows:
        if r.state in UNSURE or r.state == SETTLING:
            differences.append({"kind": "in_doubt", "sale_id": r.sale_id, "state": r.state,
                                "msgid": r.settle_msgid, "setl_id": r.setl_id or None})
    return rows, results, differences


def _repair(svc: Any, rows: list[SaleRow], differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    repairs = []
    adopted: set[str] = set()
    for d in differences:
        if d["kind"] != "missing_here" or d.get("insurer_state") != SETTLED:
            continue
        sale = match_in_doubt(d, [r for r in rows if r.sale_id not in adopted])
        if sale is None:
            continue
        adopted.add(sale.sale_id)
        d["sale_id"] = sale.sale_id
        detail = {"setl_id": d["setl_id"], "msgid": sale.settle_msgid, "insurer": d.get("insurer")}
        adopt = getattr(svc.sales, "adopt_settlement", None)
        try:
            if adopt is not None:
                state = adopt(sale.sale_id, insurer_setlinfo(d), source="3202")
                kind = "recorded_settled"
            else:
                state = svc.sales.resolve(sale.sale_id)
                kind = "reversed_in_doubt"
        except RxlaneError as exc:
            repairs.append({"kind": "failed", "sale_id": sale.sale_id, "error": exc.code, **detail})
            continue
        if state in UNSURE:
            continue   # the 2601 went unanswered too; the recovery loop keeps asking
        d["repaired"] = True
        svc.ledger.audit.append(f"{AUDIT_KIND}_repair", sale.sale_id, {"repair": kind, "state": state, **detail})
        repairs.append({"kind": kind, "sale_id": sale.sale_id, "state": state, **detail})
    for d in differences:
        if d["kind"] != "in_doubt" or d["sale_id"] in adopted or d["state"] == SETTLING:
            continue   # a settle still in flight is its own request's business
        try:
            state = svc.sales.resolve(d["sale_id"])
        except RxlaneError as exc:
            repairs.append({"kind": "failed", "sale_id": d["sale_id"], "error": exc.code})
            continue
        if state in UNSURE:
            continue   # the insurer could not be asked; the recovery loop keeps trying
        d["repaired"] = True
        svc.ledger.audit.append(f"{AUDIT_KIND}_repair", d["sale_id"], {"repair": "resolved", "state": state,
                                                                 "msgid": d.get("msgid")})
        repairs.append({"kind": "resolved", "sale_id": d["sale_id"], "state": state, "msgid": d.get("msgid")})
    return repairs


def reconcile(svc: Any, day: date) -> dict[str, Any]:
    """Run 3201 + 3202 for `day`, repair what has a clear rule, and report. `ok` means nothing differs after the
    repairs (the check is run again when anything was repaired)."""
    rows, results, differences = _check(svc, day)
    repairs = _repair(svc, rows, differences)
    remaining = differences
    if repairs:
        rows, results, remaining = _check(svc, day)
    report = {"date": day.isoformat(), "ok": not remaining, "totals": results, "sales": len(detail_rows(rows)),
              "differences": differences, "repairs": repairs, "remaining": remaining}
    svc.ledger.audit.append(AUDIT_KIND, None, {"date": day.isoformat(), "ok": report["ok"],
                                        "differences": len(differences), "repairs": len(repairs),
                                        "remaining": len(remaining)})
    return report
