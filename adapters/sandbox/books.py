"""The sandbox insurer's books: everything the simulated gateway and prescription platform know, in memory.

One re-entrant lock guards all of it; the gateway endpoint holds it for the whole of a message so a settlement,
its accumulator updates and its msgid record commit together (as one database transaction would at the insurer).
All money is Decimal. ``ledger()`` renders the books for ``GET /sandbox/ledger`` (docs/sandbox.md) so tests can compare
them with rxlane's own ledger.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

from adapters.nhsa.money import fen, wire
from plugin.eligibility import CatalogEntry, Filing, Prescription, last_valid_day

ZERO = Decimal("0")
YTD_KEYS = ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")


q2 = fen              # the wire's one rounding rule (adapters/nhsa/money.py)
money_str = wire


@dataclass
class Person:
    psn_no: str
    certno: str
    psn_name: str
    insutype: str
    insuplc_admdvs: str
    balc: Decimal
    ecard_token: str = ""
    card_no: str = ""
    card_sn: str = ""
    gend: str = ""
    brdy: str = ""
    psn_type: str = ""
    ytd: dict[str, Decimal] = field(default_factory=lambda: {k: ZERO for k in YTD_KEYS})


@dataclass
class FilingRecord:
    """A filing as the insurer keeps it: the rule module's ``Filing`` plus whose it is."""
    psn_no: str
    filing: Filing
    seq: int


@dataclass
class Settlement:
    setl_id: str
    mdtrt_id: str
    msgid: str
    psn_no: str
    insutype: str
    fixmedins_code: str
    setl_time: str
    split: dict[str, Decimal]
    lines: list[dict[str, Any]]
    hi_rxno: str = ""
    institution_code: str = ""
    state: str = "settled"  # settled | cancelled | reversed
    delta: dict[str, Decimal] = field(default_factory=dict)  # what it added to the person's accumulators/balance
    cancel_msgid: str = ""
    cancel_setl_id: str = ""


@dataclass
class Processed:
    """A message that changed the books, kept by msgid: replays answer ``output`` again (never commit twice) and
    2601 finds here what to undo."""
    msgid: str
    infno: str
    output: dict[str, Any]
    setl_id: str = ""
    codes: tuple[str, ...] = ()
    reversed: bool = False


class Books:
    def __init__(self, policy: Any, *, clock: Callable[[], datetime] = datetime.now):
        self.lock = threading.RLock()
        self.policy = policy
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.persons: dict[str, Person] = {}
            self.filings: list[FilingRecord] = []
            self.catalog: dict[str, CatalogEntry] = {}
            self.prescriptions: dict[str, Prescription] = {}
            self.institutions: dict[str, str] = {}  # code → name (prescribing hospitals, for display)
            self.physicians: dict[str, str] = {}    # code → name
            self.rx_extra: dict[str, dict[str, str]] = {}  # hi_rxno → diag_name etc. (not rule facts)
            self.sign_ins: list[dict[str, str]] = []
            self.settlements: dict[str, Settlement] = {}
            self.uploads: list[dict[str, Any]] = []
            self.sold_codes: dict[str, str] = {}  # code → msgid of the 3505 that sold it
            self.processed: dict[str, Processed] = {}
            self.reversed_unseen: set[str] = set()  # 2601 arrived before (or instead of) its original
            self.auth_rxnos: dict[str, str] = {}
            self.reviews: list[dict[str, Any]] = []
            self._serial = 0

    # -- clock and ids --------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().date()

    def next_serial(self) -> int:
        with self.lock:
            self._serial += 1
            return self._serial

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self.now().strftime('%Y%m%d%H%M%S')}{self.next_serial():06d}"

    # -- seeding --------------------------------------------------------------------------------------------------
    def add_person(self, person: Person) -> None:
        with self.lock:
            self.persons[person.psn_no] = person

    def add_filing(self, psn_no: str, filing: Filing) -> None:
        with self.lock:
            self.filings.append(FilingRecord(psn_no, filing, self.next_serial()))

    def add_catalog(self, entry: CatalogEntry) -> None:
        with self.lock:
            self.catalog[entry.med_list_codg] = entry

    def add_prescription(self, rx: Prescription) -> None:
        with self.lock:
            self.prescriptions[rx.hi_rxno] = rx

    # -- look-ups -------------------------------------------------------------------------------------------------
    def filings_of(self, psn_no: str) -> list[Filing]:
        return [r.filing for r in self.filings if r.psn_no == psn_no]

    def find_person(self, cert_type: str, cert_no: str, card_sn: str = "") -> Person | None:
        cert_no = (cert_no or "").strip()
        for p in self.persons.values():
            if cert_type == "01" and cert_no and cert_no == p.ecard_token:
                return p
            if cert_type == "02" and cert_no and cert_no.upper() == p.certno.upper():
                return p
            if cert_type == "03" and cert_no and card_sn and cert_no == p.card_no and card_sn == p.card_sn:
                return p
        return None

    def rx_status(self, rx: Prescription) -> str:
        """The platform's status today: a valid prescription past its validity reads as expired."""
        if rx.status == "valid" and self.today() > last_valid_day(rx):
            return "expired"
        return rx.status

    def set_rx_status(self, hi_rxno: str, status: str) -> None:
        with self.lock:
            self.prescriptions[hi_rxno] = replace(self.prescriptions[hi_rxno], status=status)

    # -- accumulators ---------------------------------------------------------------------------------------------
    def apply_delta(self, psn_no: str, delta: dict[str, Decimal], sign: int = 1) -> None:
        """Add (sign 1) or take back (sign -1) what one settlement did to the person's year-to-date and balance."""
        person = self.persons.get(psn_no)
        if person is None:
            return
        for key in YTD_KEYS:
            person.ytd[key] = person.ytd[key] + sign * delta.get(key, ZERO)
        person.balc = person.balc - sign * delta.get("acct_pay", ZERO)

    # -- the ledger view (docs/sandbox.md) ------------------------------------------------------------------------------
    def ledger(self) -> dict[str, Any]:
        with self.lock:
            settlements = []
            for s in self.settlements.values():
                row: dict[str, Any] = {"setl_id": s.setl_id, "mdtrt_id": s.mdtrt_id, "msgid": s.msgid,
                                       "psn_no": s.psn_no, "state": s.state, "setl_time": s.setl_time,
                                       "hi_rxno": s.hi_rxno, "institution_code": s.institution_code,
                                       "insutype": s.insutype, "fixmedins_code": s.fixmedins_code,
                                       "cancel_msgid": s.cancel_msgid, "cancel_setl_id": s.cancel_setl_id}
                row.update({k: money_str(v) for k, v in s.split.items()})
                row["lines"] = s.lines
                settlements.append(row)
            return {
                "settlements": settlements,
                "uploads": [dict(u, codes=list(u["codes"])) for u in self.uploads],
                "prescriptions": [{"hi_rxno": rx.hi_rxno, "psn_no": rx.psn_no, "status": self.rx_status(rx)}
                                  for rx in self.prescriptions.values()],
                "accumulators": {p.psn_no: {**{k: money_str(v) for k, v in p.ytd.items()}, "balc": money_str(p.balc)}
                                 for p in self.persons.values()},
                "sign_ins": list(self.sign_ins),
                "reversed_unseen": sorted(self.reversed_unseen),
            }
