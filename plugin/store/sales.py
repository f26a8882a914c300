"""The `sales` and `sale_lines` tables: every query on a sale and its lines, and the one way a sale changes state.

Rows become typed ``Sale``/``SaleLine`` values (plugin/sale.py) here and nowhere else. ``move`` applies one event of
the state table inside the caller's transaction: the current state is read and the UPDATE is conditional on it,
under BEGIN IMMEDIATE, so two requests racing for one sale cannot both move it.

A counter flow reads its sale a dozen times (each step, each answer's view, each upload), and decoding it — the
two splits' thirty-odd Decimals each, the lines — cost more than the SELECT. ``SaleLine`` (frozen, tuples) and the
splits (``Split``: nothing in rxlane changes one after ``policy.split``/``sale_split`` built it, and its
``to_dict`` hands out copies) are therefore decoded once per distinct stored text and shared; the caches are keyed
by the row's content, never by the sale's id, so a changed row is decoded afresh and no invalidation can be
forgotten. The JSON dicts (``rx``, ``presettle``…) are decoded per read: callers may hold and change them.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from collections.abc import Iterable

from plugin.errors import NotFound
from plugin.policy.model import Split
from plugin.sale import Sale, SaleEvent, SaleLine, SaleState, transition
from plugin.store.db import Connection, Database, Row, dumps, loads, now
from plugin.store.idempotency import link_claim

_JSON = {"rx": "rx_json", "presettle": "presettle_json", "split": "split_json", "estimate": "estimate_json",
         "mismatch": "mismatch_json", "refund": "refund_json", "last_error": "last_error_json",
         "insurer": "insurer_json"}
_PLAIN = ("setl_id", "mdtrt_id", "settle_msgid", "setl_time", "confirm_selfpay", "acct_used")


#: Distinct stored texts kept decoded: a counter's sales of the last hour or so.
DECODED_KEPT = 512


@lru_cache(maxsize=DECODED_KEPT)
def _split(text: str | None) -> Split | None:
    """The split stored as ``text``; the same object for the same text (read-only by convention: nothing in rxlane
    changes a split after ``policy.split``/``sale_split`` built it)."""
    return Split.from_dict(loads(text)) if text else None


def _line(r: Row) -> SaleLine:
    return _decoded_line(tuple(r), tuple(r.keys()))


@lru_cache(maxsize=DECODED_KEPT * 4)
def _decoded_line(values: tuple[Any, ...], keys: tuple[str, ...]) -> SaleLine:
    r = dict(zip(keys, values, strict=True))
    return SaleLine(line_no=r["line_no"], med_list_codg=r["med_list_codg"], generic_name=r["generic_name"],
                    drug_name=r["drug_name"], spec=r["spec"], category=r["category"], qty=Decimal(r["qty"]),
                    price=Decimal(r["price"]), payment_standard=Decimal(r["payment_standard"]),
                    line_total=Decimal(r["line_total"]), donated=bool(r["donated"]), trdn=bool(r["trdn_flag"]),
                    eligible=bool(r["eligible"]), reasons=tuple(loads(r["reasons_json"]) or ()),
                    unknown=tuple(loads(r["unknown_json"]) or ()), lot=r["lot"] or "",
                    manu_date=r["manu_date"] or "", expy_end=r["expy_end"] or "")


def _sale(r: Row, lines: Iterable[SaleLine] = ()) -> Sale:
    return Sale(id=r["id"], state=SaleState(r["state"]), created_at=r["created_at"], updated_at=r["updated_at"],
                biz_date=r["biz_date"], patient_ref=r["patient_ref"], psn_no=r["psn_no"], insutype=r["insutype"],
                hi_rxno=r["hi_rxno"], rx=loads(r["rx_json"]), acct_used=bool(r["acct_used"]),
                confirm_selfpay=bool(r["confirm_selfpay"]), medfee_sumamt=Decimal(r["medfee_sumamt"]),
                setl_id=r["setl_id"], mdtrt_id=r["mdtrt_id"], settle_msgid=r["settle_msgid"],
                setl_time=r["setl_time"], presettle=loads(r["presettle_json"]), split=_split(r["split_json"]),
                estimate=_split(r["estimate_json"]), mismatch=loads(r["mismatch_json"]) or [],
                refund=loads(r["refund_json"]), last_error=loads(r["last_error_json"]), lines=tuple(lines),
                insurer=loads(r["insurer_json"]))


class SalesTable:
    def __init__(self, db: Database):
        self.db = db

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, sale_id: str) -> Sale:
        """The sale with its lines; ``NotFound`` when there is none."""
        row = self.db.read_one("SELECT * FROM sales WHERE id = ?", (sale_id,))
        if row is None:
            raise NotFound("sale", id=sale_id[:64])
        return _sale(row, self.lines(sale_id))

    def exists(self, sale_id: str) -> bool:
        return self.db.read_one("SELECT 1 FROM sales WHERE id = ?", (sale_id,)) is not None

    def lines(self, sale_id: str) -> list[SaleLine]:
        return [_line(r) for r in self.db.read("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
                                               (sale_id,))]

    def state(self, sale_id: str, conn: Connection | None = None) -> str | None:
        sql, args = "SELECT state FROM sales WHERE id = ?", (sale_id,)
        row = conn.execute(sql, args).fetchone() if conn is not None else self.db.read_one(sql, args)
        return row[0] if row else None

    def patient_ref(self, sale_id: str) -> str | None:
        row = self.db.read_one("SELECT patient_ref FROM sales WHERE id = ?", (sale_id,))
        return row[0] if row else None

    def get_hi_rxno(self, conn: Connection, sale_id: str) -> str | None:
        row = conn.execute("SELECT hi_rxno FROM sales WHERE id = ?", (sale_id,)).fetchone()
        return row[0] if row else None

    def holding_prescription(self, hi_rxno: str) -> str | None:
        """A sale that dispensed (or is settling) this prescription, if any."""
        row = self.db.read_one("SELECT id FROM sales WHERE hi_rxno = ? AND state IN (?,?,?,?,?) LIMIT 1",
                               (hi_rxno, "settled", "settling", "in_doubt", "refunding", "refund_in_doubt"))
        return row["id"] if row else None

    def find_by_setl_id(self, setl_id: str) -> str | None:
        row = self.db.read_one("SELECT id FROM sales WHERE setl_id = ?", (setl_id,))
        return row["id"] if row else None

    def ids_in(self, *states: str) -> list[str]:
        marks = ",".join("?" * len(states))
        return [r["id"] for r in self.db.read(f"SELECT id FROM sales WHERE state IN ({marks}) ORDER BY updated_at",
                                              states)]

    def of_day(self, day: str) -> list[Sale]:
        """A business day's sales, oldest first (without lines)."""
        return [_sale(r) for r in self.db.read("SELECT * FROM sales WHERE biz_date = ? ORDER BY created_at, id",
                                               (day,))]

    def for_reconciliation(self, day: date, on_the_books: tuple[str, ...], unsure: tuple[str, ...]) -> list[Sale]:
        """The sales settled on ``day`` (the insurer's clock, ``setl_time``) in ``on_the_books`` states, plus every
        sale in an ``unsure`` state whatever its day."""
        marks, umarks = ",".join("?" * len(on_the_books)), ",".join("?" * len(unsure))
        # a range on setl_time (its index, migration 12; `+state` keeps the planner off the state index, where
        # "settled" is nearly every sale): the day's rows, not every settled sale
        rows = self.db.read(
            f"SELECT * FROM sales WHERE setl_time >= ? AND setl_time < ? AND +state IN ({marks}) "
            f"UNION SELECT * FROM sales WHERE state IN ({umarks}) ORDER BY created_at, id",
            (day.isoformat(), (day + timedelta(days=1)).isoformat(), *on_the_books, *unsure))
        return [_sale(r) for r in rows]

    def of_month(self, start: str, end: str, states: tuple[str, ...]) -> tuple[list[Sale], list[tuple[str, SaleLine]]]:
        """Sales of business days in [start, end) in ``states``, and their lines as (sale_id, line)."""
        marks = ",".join("?" * len(states))
        where = f"s.biz_date >= ? AND s.biz_date < ? AND s.state IN ({marks})"
        args = (start, end, *states)
        sales = [_sale(r) for r in self.db.read(f"SELECT s.* FROM sales s WHERE {where} ORDER BY s.biz_date, s.id",
                                                args)]
        lines = [(r["sale_id"], _line(r)) for r in self.db.read(
            f"SELECT l.* FROM sale_lines l JOIN sales s ON s.id = l.sale_id WHERE {where} "
            f"ORDER BY l.sale_id, l.line_no", args)]
        return sales, lines

    def year_totals(self, psn_no: str, year: int) -> dict[str, Decimal]:
        """The insurer's amounts summed over this person's settlements recorded here in ``year`` (by setl_time)."""
        totals = {k: Decimal("0") for k in ("act_pay_dedc", "hifp_pay", "inscp_scp_amt", "hifmi_pay", "hifob_pay")}
        for r in self.db.read("SELECT split_json FROM sales WHERE psn_no = ? AND state = ? "
                              "AND substr(setl_time, 1, 4) = ?",
                              (psn_no, SaleState.SETTLED.value, f"{year:04d}")):
            split = _split(r[0])
            if split is not None:
                for k in totals:
                    totals[k] += getattr(split, k)
        return totals

    def open_ones(self, states: tuple[str, ...], *, psn_no: str | None = None,
                  hi_rxno: str | None = None) -> list[Sale]:
        """Sales in ``states`` (the unsettled ones) of this person and/or this prescription, newest first, with
        their lines."""
        marks = ",".join("?" * len(states))
        where, args = [f"state IN ({marks})"], list(states)
        if psn_no is not None:
            where.append("psn_no = ?")
            args.append(psn_no)
        if hi_rxno is not None:
            where.append("hi_rxno = ?")
            args.append(hi_rxno)
        rows = self.db.read(f"SELECT * FROM sales WHERE {' AND '.join(where)} ORDER BY updated_at DESC, rowid DESC "
                            "LIMIT 50", tuple(args))
        return [_sale(r, self.lines(r["id"])) for r in rows]

    def untouched_since(self, states: tuple[str, ...], before: str) -> list[str]:
        """Ids of sales in ``states`` last changed before ``before`` (``now()`` format), oldest first."""
        marks = ",".join("?" * len(states))
        return [r["id"] for r in self.db.read(
            f"SELECT id FROM sales WHERE state IN ({marks}) AND updated_at < ? ORDER BY updated_at", (*states, before))]

    def count_by_state(self) -> list[tuple[str, int]]:
        return [(r[0], r[1]) for r in self.db.read("SELECT state, count(*) FROM sales GROUP BY state ORDER BY state")]

    # -- writing ------------------------------------------------------------------------------------------------
    def insert(self, conn: Connection, *, sale_id: str, biz_date: str, patient_ref: str, psn_no: str,
               insutype: str, hi_rxno: str | None, rx: dict[str, Any] | None, acct_used: bool,
               confirm_selfpay: bool, medfee_sumamt: Decimal, lines: Iterable[SaleLine]) -> None:
        """A new sale in ``draft`` with its lines (a line is eligible when it has no reasons)."""
        stamp = now()
        conn.execute(
            "INSERT INTO sales (id, created_at, updated_at, biz_date, state, patient_ref, psn_no, insutype, "
            "hi_rxno, rx_json, acct_used, confirm_selfpay, medfee_sumamt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sale_id, stamp, stamp, biz_date, SaleState.DRAFT.value, patient_ref, psn_no, insutype, hi_rxno,
             dumps(rx) if rx else None, int(acct_used), int(confirm_selfpay), f"{medfee_sumamt:.2f}"))
        conn.executemany(
            "INSERT INTO sale_lines (sale_id, line_no, med_list_codg, generic_name, drug_name, spec, category, qty, "
            "price, payment_standard, line_total, donated, trdn_flag, eligible, reasons_json, unknown_json, lot, "
            "manu_date, expy_end) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(sale_id, ln.line_no, ln.med_list_codg, ln.generic_name, ln.drug_name, ln.spec, ln.category,
              str(ln.qty), f"{ln.price:.2f}", f"{ln.payment_standard:.2f}", f"{ln.line_total:.2f}",
              int(ln.donated), int(ln.trdn), int(ln.eligible), dumps(list(ln.reasons)), dumps(list(ln.unknown)),
              ln.lot or None, ln.manu_date or None, ln.expy_end or None)
             for ln in lines])
        # the request's Idempotency-Key learns its sale in this same transaction: a retry after a crash answers with
        # this sale rather than creating a second one that finds the packs already held
        link_claim(conn, sale_id)

    def add_reasons(self, conn: Connection, sale_id: str, line_nos: list[int], codes: list[str]) -> None:
        """The insurer refused these lines for these reasons: they are no longer eligible (the pharmacist may
        confirm them as self-paid); the reasons join what the counter decided, and leave the unknown ones."""
        for line_no in line_nos:
            row = conn.execute("SELECT reasons_json, unknown_json FROM sale_lines WHERE sale_id = ? AND line_no = ?",
                               (sale_id, line_no)).fetchone()
            if row is None:
                continue
            reasons = list(dict.fromkeys([*(loads(row[0]) or []), *codes]))
            unknown = [c for c in (loads(row[1]) or []) if c not in reasons]
            conn.execute("UPDATE sale_lines SET reasons_json = ?, unknown_json = ?, eligible = 0 "
                         "WHERE sale_id = ? AND line_no = ?", (dumps(reasons), dumps(unknown), sale_id, line_no))

    def move(self, conn: Connection, sale_id: str, event: SaleEvent, *, previous: str | None = None,
             **fields: Any) -> SaleState:
        """Apply ``event`` (plugin/sale.py ``TRANSITIONS``) and set ``fields`` in the caller's transaction; returns
        the new state. Refused moves raise ``InvalidState``/``SettlementInDoubt``; a missing sale ``NotFound``.

        ``fields`` are Sale attributes: ``rx, presettle, split, estimate, mismatch, refund, last_error`` (stored as
        JSON, None clears) and ``setl_id, mdtrt_id, settle_msgid, setl_time, confirm_selfpay, acct_used``."""
        current = self.state(sale_id, conn)
        if current is None:
            raise NotFound("sale", id=sale_id[:64])
        target = transition(current, event, previous=previous)
        sets: list[str] = ["state = ?", "updated_at = ?"]
        args: list[Any] = [target.value, now()]
        for name, value in fields.items():
            if name in _JSON:
                sets.append(f"{_JSON[name]} = ?")
                args.append(None if value is None else dumps(value))
            elif name in _PLAIN:
                sets.append(f"{name} = ?")
                args.append(int(value) if isinstance(value, bool) else value)
            else:
                raise TypeError(f"not a sale field: {name}")
        cur = conn.execute(f"UPDATE sales SET {', '.join(sets)} WHERE id = ? AND state = ?",
                           (*args, sale_id, current))
        if cur.rowcount != 1:   # cannot happen under BEGIN IMMEDIATE; refuse rather than guess
            raise transition_race(sale_id)
        return target

    def touch(self, conn: Connection, sale_id: str) -> None:
        conn.execute("UPDATE sales SET updated_at = ? WHERE id = ?", (now(), sale_id))

    def mid_flight(self, conn: Connection | None = None) -> list[str]:
        """Sales whose 2102/2103 is journaled and whose outcome is not recorded (settling/refunding)."""
        sql, args = "SELECT id FROM sales WHERE state IN (?, ?) ORDER BY updated_at", (SaleState.SETTLING.value,
                                                                                       SaleState.REFUNDING.value)
        rows = conn.execute(sql, args).fetchall() if conn is not None else self.db.read(sql, args)
        return [r["id"] for r in rows]

    def adopt_interrupted(self, conn: Connection, flying: frozenset[str] = frozenset()) -> list[str]:
        """Sales a crash (or a failed write) left mid-flight take the LOST move, except those whose exchange is
        still ``flying`` in this process; returns their ids."""
        moved = [sale_id for sale_id in self.mid_flight(conn) if sale_id not in flying]
        for sale_id in moved:
            self.move(conn, sale_id, SaleEvent.LOST)
        return moved


def transition_race(sale_id: str) -> Exception:
    from plugin.errors import RxlaneError
    return RxlaneError("INVALID_STATE", details={"sale_id": sale_id[:64]})
