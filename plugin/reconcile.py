"""The daily reconciliation of one store with the insurer (docs/reconciliation.md, "Reconciliation").

Once a day the store's books are held against the insurer's, as one pharmacy (one ``fixmedins_code``) however many
counters sell: the lead counter gathers the others' day rows (plugin/peers.py) and reconciles them with its own;
the other counters leave it to the lead (``RECONCILED_BY_LEAD``).

- 3201 per (insutype, clearing type, clearing agency) of the day's settlements — each settlement's own
  ``clr_type``/``clr_optins`` as the insurer answered them, so a cross-region settlement counts under its agency —
  with the totals of the settlements still standing (a cancelled one is out of both sides' totals);
- per clearing agency, the detail file of every settlement of the day (refunded ones flagged ``refd_setl_flag`` 1)
  is uploaded with 9101, 3202 names its ``file_qury_no``, 9102 downloads the result file, and every row whose
  ``stmt_rslt`` is not 0 is a difference (the centre has more, the pharmacy has more, the data differ).

A sale sold wholly outside insurance has no settlement and is not reconciled. The "day" is the insurer's: a sale
belongs to the day of its ``setl_time``. Where the rule is clear the ledger is repaired and the repair audited: an
in-doubt sale whose settlement the centre holds (the result row names its 2102 msgid) is recorded as settled; any
other in-doubt sale of this counter is resolved by 2601. Nothing else is repaired: the rest is a person's call.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from adapters.nhsa import reconciliation as tx
from plugin import peers
from plugin.errors import RxlaneError
from plugin.money import fen, wire
from plugin.upstream import insurer_data

COMPARED = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
AUDIT_KIND = "reconciliation"

SETTLED, REFUNDED, IN_DOUBT, REFUND_IN_DOUBT = "settled", "refunded", "in_doubt", "refund_in_doubt"
REFUNDING, SETTLING = "refunding", "settling"
#: States whose settlement the insurer should hold: standing (refd 0) or cancelled (refd 1).
ON_THE_BOOKS = (SETTLED, REFUNDED, REFUND_IN_DOUBT, REFUNDING)
UNSURE = (IN_DOUBT, REFUND_IN_DOUBT, SETTLING)


# -- the store's rows --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SettlementRow:
    """One sale as reconciliation sees it: the insurer's amounts and codes as its 2102 answer gave them (an
    unanswered one: the estimate). ``counter`` is "" for this counter, else the other counter's URL."""
    sale_id: str
    state: str
    insutype: str
    clr_type: str
    clr_optins: str
    psn_no: str
    setl_id: str
    mdtrt_id: str
    settle_msgid: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    in_day: bool = True
    counter: str = ""

    @property
    def refunded(self) -> bool:
        return self.state == REFUNDED

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update({k: wire(getattr(self, k)) for k in (*COMPARED, "psn_cash_pay")})
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], counter: str = "") -> SettlementRow:
        """A row another counter sent (``ValueError`` for a row that is not one)."""
        try:
            def amount(key: str) -> Decimal:
                return fen(Decimal(str(d[key])))

            return cls(sale_id=str(d["sale_id"]), state=str(d["state"]), insutype=str(d["insutype"]),
                       clr_type=str(d["clr_type"]), clr_optins=str(d["clr_optins"]), psn_no=str(d["psn_no"]),
                       setl_id=str(d["setl_id"]), mdtrt_id=str(d["mdtrt_id"]), settle_msgid=str(d["settle_msgid"]),
                       medfee_sumamt=amount("medfee_sumamt"), fund_pay_sumamt=amount("fund_pay_sumamt"),
                       acct_pay=amount("acct_pay"), psn_cash_pay=amount("psn_cash_pay"),
                       in_day=bool(d.get("in_day", True)), counter=counter)
        except (KeyError, ArithmeticError, TypeError) as exc:
            raise ValueError(f"not a settlement row: {type(exc).__name__}") from None


def day_rows(ledger: Any, day: date, *, clr_type: str, setl_optins: str) -> list[SettlementRow]:
    """This counter's rows: the day's sales the insurer should know of (settled with it, by ``setl_time``), plus
    every sale whose settlement is unsure, whatever its day. ``clr_type``/``setl_optins``: what a settlement answer
    that named none is counted under (the profile's clearing type, the pharmacy's division)."""
    out = []
    for s in ledger.sales.for_reconciliation(day, ON_THE_BOOKS, UNSURE):
        insurer = s.insurer or {}
        if s.state.value in ON_THE_BOOKS and not s.setl_id:
            continue   # sold wholly outside insurance: no settlement to reconcile
        split = s.split or s.estimate

        def amount(key: str, insurer: dict[str, Any] = insurer, split: Any = split) -> Decimal:
            if insurer.get(key) not in (None, ""):
                return fen(Decimal(str(insurer[key])))
            return fen(getattr(split, key)) if split else Decimal("0.00")

        out.append(SettlementRow(
            sale_id=s.id, state=s.state.value, insutype=str(insurer.get("insutype") or s.insutype),
            clr_type=str(insurer.get("clr_type") or clr_type), clr_optins=str(insurer.get("clr_optins") or setl_optins),
            psn_no=s.psn_no, setl_id=s.setl_id or "", mdtrt_id=s.mdtrt_id or "", settle_msgid=s.settle_msgid or "",
            medfee_sumamt=amount("medfee_sumamt"), fund_pay_sumamt=amount("fund_pay_sumamt"),
            acct_pay=amount("acct_pay"), psn_cash_pay=amount("psn_cash_pay"),
            in_day=(s.setl_time or "")[:10] == day.isoformat()))
    return out


# -- what is sent --------------------------------------------------------------------------------------------------
def totals(rows: Iterable[SettlementRow]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """3201 inputs per (insutype, clr_type, clr_optins): sums over the day's standing settlements."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        if r.state != SETTLED or not r.in_day:
            continue
        t = out.setdefault((r.insutype, r.clr_type, r.clr_optins),
                           {k: Decimal(0) for k in COMPARED} | {"fixmedins_setl_cnt": 0})
        for k in COMPARED:
            t[k] += getattr(r, k)
        t["fixmedins_setl_cnt"] += 1
    return out


def detail_rows(rows: Iterable[SettlementRow]) -> dict[str, list[tx.DetailRow]]:
    """The detail file's rows per clearing agency: every settlement of the day, refunded ones flagged."""
    out: dict[str, list[tx.DetailRow]] = {}
    for r in rows:
        if r.state in ON_THE_BOOKS and r.setl_id and r.in_day:
            out.setdefault(r.clr_optins, []).append(tx.DetailRow(
                setl_id=r.setl_id, mdtrt_id=r.mdtrt_id, psn_no=r.psn_no, medfee_sumamt=r.medfee_sumamt,
                fund_pay_sumamt=r.fund_pay_sumamt, acct_pay=r.acct_pay, psn_cash_pay=r.psn_cash_pay,
                refunded=r.refunded))
    return out


# -- what the insurer answers, in our words ------------------------------------------------------------------------
def difference(result: tx.ResultRow, ours: SettlementRow | None, setl_optins: str) -> dict[str, Any]:
    """A differing result row: the insurer's verdict (``kind``: centre_has_more, pharmacy_has_more, data_differ),
    the fields that differ, both sides' values, and the sale it concerns (by setl_id, else by the 2102 msgid)."""
    centre = {k: (wire(getattr(result, k)) if getattr(result, k) is not None else None) for k in COMPARED}
    entry: dict[str, Any] = {"kind": result.verdict, "stmt_rslt": result.stmt_rslt, "setl_id": result.setl_id,
                             "setl_optins": setl_optins, "msgid": result.msgid or None, "memo": result.memo,
                             "mdtrt_id": result.mdtrt_id or None, "psn_no": result.psn_no or None,
                             "sale_id": ours.sale_id if ours else None, "counter": ours.counter if ours else None,
                             "insurer": {**centre, "refd_setl_flag": result.refd_setl_flag}}
    if ours is not None:
        entry["ours"] = {**{k: wire(getattr(ours, k)) for k in COMPARED}, "refd_setl_flag": "1" if ours.refunded else
                         "0", "state": ours.state}
        entry["fields"] = [k for k in (*COMPARED, "refd_setl_flag")
                           if entry["insurer"].get(k) not in (None, "") and entry["insurer"][k] != entry["ours"][k]]
    return entry


def owner(result: tx.ResultRow, rows: list[SettlementRow]) -> SettlementRow | None:
    """Our row a result row concerns: by setl_id; for a settlement only the centre has, the in-doubt sale whose
    2102 it was (the result names the msgid) — never a guess by person or amount."""
    by_setl = next((r for r in rows if r.setl_id and r.setl_id == result.setl_id), None)
    if by_setl is not None:
        return by_setl
    if result.msgid:
        return next((r for r in rows if r.settle_msgid == result.msgid and r.state in UNSURE), None)
    return None


def insurer_setlinfo(result: tx.ResultRow, *, setl_optins: str, clr_type: str) -> dict[str, str]:
    """What a result row tells of a settlement, as a setlinfo to record: ids, the agency whose file listed it, and
    the three amounts; the cash part follows from them (fund + account + cash = total)."""
    info = {"setl_id": result.setl_id, "mdtrt_id": result.mdtrt_id, "clr_optins": setl_optins, "clr_type": clr_type}
    amounts = {k: getattr(result, k) for k in COMPARED if getattr(result, k) is not None}
    info.update({k: wire(v) for k, v in amounts.items()})
    if len(amounts) == len(COMPARED):
        info["psn_cash_pay"] = wire(amounts["medfee_sumamt"] - amounts["fund_pay_sumamt"] - amounts["acct_pay"])
    return info


# -- when ----------------------------------------------------------------------------------------------------------
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
    last attempt the insurer — or another counter — could not answer)."""
    return ledger.audit.last_at(kind)


def run_if_due(svc: Any, now: datetime, at: str) -> dict[str, Any] | None:
    """The hook for the recovery loop (called every few seconds): run the day's reconciliation when `due`;
    returns its report, or None when not due — or when this counter leaves it to the store's lead. An insurer (or
    another counter) that cannot answer is asked again after RETRY_AFTER, not on every round (a failure stamped far
    "in the future" — the clock went back since — does not hold it back)."""
    if svc.settings.reconcile.follows or not due(now, recent_runs(svc.ledger), at):
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


# -- the run -------------------------------------------------------------------------------------------------------
def store_rows(svc: Any, day: date) -> tuple[list[SettlementRow], list[str]]:
    """The store's rows: this counter's and every other counter's (plugin/peers.py); and the counters asked."""
    profile = svc.upstream.client.profile
    rows = day_rows(svc.ledger, day, clr_type=profile.reconcile.clr_type, setl_optins=svc.pharmacy_admdvs)
    settings = svc.settings.reconcile
    for url, theirs in peers.gather(settings.peers, day, token=settings.peer_token, timeout_s=settings.peer_timeout_s,
                                    fixmedins_code=svc.settings.store.fixmedins_code):
        try:
            rows += [SettlementRow.from_dict(r, counter=url) for r in theirs]
        except ValueError as exc:
            raise peers.unavailable(url, str(exc)) from None
    if len({r.sale_id for r in rows}) != len(rows):
        raise peers.unavailable(settings.peers[0] if settings.peers else "", "two counters report one sale")
    return rows, ["", *settings.peers]


def _check(svc: Any, day: date, rows: list[SettlementRow]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """3201 per group and the 9101/3202/9102 flow per clearing agency; returns (3201 results, differences)."""
    profile = svc.upstream.client.profile
    code = svc.settings.store.fixmedins_code
    results, differences = [], []
    for (insutype, clr_type, optins), t in sorted(totals(rows).items()):
        ours = {**{k: wire(t[k]) for k in COMPARED}, "fixmedins_setl_cnt": t["fixmedins_setl_cnt"]}
        out = svc.upstream.query("3201", tx.totals_input(
            insutype=insutype, clr_type=clr_type, setl_optins=optins, begin=day, end=day,
            fixmedins_setl_cnt=t["fixmedins_setl_cnt"], **{k: t[k] for k in COMPARED}))
        with insurer_data("3201"):
            stmt = tx.parse_totals(out, profile.answers.get("3201", "stmtinfo"))
        results.append({"insutype": insutype, "clr_type": clr_type, "setl_optins": optins, "ours": ours,
                        "stmt_rslt": stmt.stmt_rslt, "stmt_rslt_dscr": stmt.stmt_rslt_dscr})
        if not stmt.balanced:
            differences.append({"kind": "totals_differ", "insutype": insutype, "clr_type": clr_type,
                                "setl_optins": optins, "ours": ours, "stmt_rslt": stmt.stmt_rslt,
                                "detail": stmt.stmt_rslt_dscr})
    # one detail flow per clearing agency the day's settlements name; a day without any still asks under the
    # pharmacy's own division, so a settlement only the centre has is found
    files = detail_rows(rows) or {svc.pharmacy_admdvs: []}
    clr_types = {r.clr_optins: r.clr_type for r in rows}
    for optins, detail in sorted(files.items()):
        for result in _detail_flow(svc, day, optins, detail, clr_types.get(optins, profile.reconcile.clr_type), code):
            if result.differs:
                differences.append({**difference(result, owner(result, rows), optins),
                                    "clr_type": clr_types.get(optins, profile.reconcile.clr_type)})
    return results, differences


def _detail_flow(svc: Any, day: date, optins: str, detail: list[tx.DetailRow], clr_type: str,
                 code: str) -> list[tx.ResultRow]:
    """9101 the zipped detail file → 3202 with its file number → 9102 the result file → its rows."""
    profile = svc.upstream.client.profile
    name = tx.detail_file_name(code, day, optins)
    upload = tx.upload_input(profile, content=tx.zipped(name, tx.detail_text(detail)), filename=name + ".zip",
                             fixmedins_code=code)
    out = svc.upstream.query("9101", upload)
    with insurer_data("9101"):
        stored = tx.parse_file_ref(out, profile.answers.get("9101", ""), "9101")
    out = svc.upstream.query("3202", tx.detail_input(profile, setl_optins=optins, file_qury_no=stored.file_qury_no,
                                                      begin=day, end=day, rows=detail, clr_type=clr_type))
    with insurer_data("3202"):
        result_file = tx.parse_file_ref(out, profile.answers.get("3202", "fileinfo"), "3202")
    content = svc.upstream.fetch_file("9102", tx.download_input(result_file, code))
    with insurer_data("9102"):
        return tx.read_result(content, profile.reconcile.result_columns, profile.reconcile.result_file)


def _repair(svc: Any, rows: list[SettlementRow], differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    repairs: list[dict[str, Any]] = []
    adopted: set[str] = set()
    by_id = {r.sale_id: r for r in rows}
    for d in differences:
        row = by_id.get(d.get("sale_id") or "")
        if d["kind"] != "centre_has_more" or row is None or row.counter or row.state != IN_DOUBT:
            continue
        adopted.add(row.sale_id)
        def amount(key: str, centre: dict[str, Any] = d["insurer"]) -> Decimal | None:
            return Decimal(centre[key]) if centre.get(key) is not None else None

        result = tx.ResultRow(setl_id=d["setl_id"], stmt_rslt=d["stmt_rslt"], mdtrt_id=d["mdtrt_id"] or "",
                              msgid=d["msgid"] or "", medfee_sumamt=amount("medfee_sumamt"),
                              fund_pay_sumamt=amount("fund_pay_sumamt"), acct_pay=amount("acct_pay"))
        detail = {"setl_id": d["setl_id"], "msgid": row.settle_msgid, "insurer": d["insurer"]}
        try:
            setlinfo = insurer_setlinfo(result, setl_optins=d["setl_optins"],
                                        clr_type=d.get("clr_type") or svc.upstream.client.profile.reconcile.clr_type)
            state = svc.sales.adopt_settlement(row.sale_id, setlinfo, source="3202")
        except RxlaneError as exc:
            repairs.append({"kind": "failed", "sale_id": row.sale_id, "error": exc.code, **detail})
            continue
        d["repaired"] = True
        svc.ledger.audit.append(f"{AUDIT_KIND}_repair", row.sale_id, {"repair": "recorded_settled", "state": state,
                                                                      **detail})
        repairs.append({"kind": "recorded_settled", "sale_id": row.sale_id, "state": state, **detail})
    for r in rows:
        if r.counter or r.state not in (IN_DOUBT, REFUND_IN_DOUBT) or r.sale_id in adopted:
            continue   # another counter resolves its own; a settle still in flight is its request's business
        try:
            state = svc.sales.resolve(r.sale_id)
        except RxlaneError as exc:
            repairs.append({"kind": "failed", "sale_id": r.sale_id, "error": exc.code})
            continue
        if state in (IN_DOUBT, REFUND_IN_DOUBT):
            continue   # the insurer could not be asked; the recovery loop keeps trying
        svc.ledger.audit.append(f"{AUDIT_KIND}_repair", r.sale_id, {"repair": "resolved", "state": state,
                                                                    "msgid": r.settle_msgid})
        repairs.append({"kind": "resolved", "sale_id": r.sale_id, "state": state, "msgid": r.settle_msgid})
    return repairs


def _unsure(rows: list[SettlementRow]) -> list[dict[str, Any]]:
    return [{"kind": "in_doubt", "sale_id": r.sale_id, "state": r.state, "msgid": r.settle_msgid,
             "setl_id": r.setl_id or None, "counter": r.counter or None} for r in rows if r.state in UNSURE]


def reconcile(svc: Any, day: date) -> dict[str, Any]:
    """Reconcile the store's ``day`` (3201 + 9101/3202/9102), repair what has a clear rule, and report. ``ok``
    means nothing differs after the repairs (the check runs again when anything was repaired). A counter that
    follows a lead refuses (RECONCILED_BY_LEAD); a counter that cannot be asked stops the run before anything is
    sent (RECONCILE_PEER_UNAVAILABLE)."""
    if svc.settings.reconcile.follows:
        raise RxlaneError("RECONCILED_BY_LEAD", details={"lead": svc.settings.reconcile.lead or None})
    rows, counters = store_rows(svc, day)
    results, differences = _check(svc, day, rows)
    differences += _unsure(rows)
    repairs = _repair(svc, rows, differences)
    remaining = differences
    if repairs:
        rows, counters = store_rows(svc, day)
        results, remaining = _check(svc, day, rows)
        remaining += _unsure(rows)
    sent = sum(len(v) for v in detail_rows(rows).values())
    report = {"date": day.isoformat(), "ok": not remaining, "fixmedins_code": svc.settings.store.fixmedins_code,
              "counters": len(counters), "gateway": svc.gateway_url, "totals": results, "sales": sent,
              "differences": differences, "repairs": repairs, "remaining": remaining}
    svc.ledger.audit.append(AUDIT_KIND, None, {"date": day.isoformat(), "ok": report["ok"], "sales": sent,
                                               "counters": len(counters), "differences": len(differences),
                                               "repairs": len(repairs), "remaining": len(remaining)})
    return report
