"""The sandbox insurer's books: everything the simulated gateway, e-voucher service and prescription platform know,
in memory.

Records keep the gateway's own shapes (a person is the 1101 ``baseinfo``/``insuinfo``/``idetinfo`` it answers, a
prescription the 7203 answer) next to the facts only the insurer holds and never answers (a filing's drug, hospital
and responsible physicians; a drug's dual-channel category and payment standard). One re-entrant lock guards all of
it; the gateway endpoint holds it for the whole of a message so a settlement, its accumulator updates and its msgid
record commit together, as one database transaction would at the insurer. All money is Decimal. ``ledger()``
renders the books for ``GET /sandbox/ledger`` (docs/sandbox.md) so tests can compare them with rxlane's own ledger.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from collections.abc import Callable

from adapters.nhsa.money import fen, wire
from plugin.eligibility import CatalogEntry, Filing, Prescription, RxStatus, last_valid_day

ZERO = Decimal("0")
#: The insurer's year-to-date accumulators of a person (docs/policies.md §3), answered by 5206 as ``cuminfo`` rows.
YTD_KEYS = ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")

q2 = fen              # the wire's one rounding rule (adapters/nhsa/money.py)
money_str = wire


@dataclass
class Person:
    """A person as 1101 answers them (``baseinfo`` object, ``insuinfo`` rows with ``balc`` as Decimal,
    ``idetinfo`` rows) plus what identifies them elsewhere: the e-voucher QR value the decode service reads, the
    social-security card and its ``card_sn``, a password (its presence is what 2102 checks where the province asks
    for one), and the accumulators (``cum``, keys ``YTD_KEYS``)."""
    psn_no: str
    baseinfo: dict[str, Any]
    insuinfo: list[dict[str, Any]]
    idetinfo: list[dict[str, Any]] = field(default_factory=list)
    ecard_qr: str = ""
    card_no: str = ""
    card_sn: str = ""
    password: str = ""
    cum: dict[str, Decimal] = field(default_factory=lambda: {k: ZERO for k in YTD_KEYS})

    @property
    def certno(self) -> str:
        return str(self.baseinfo.get("certno") or "")

    @property
    def psn_name(self) -> str:
        return str(self.baseinfo.get("psn_name") or "")

    def insurance(self, insutype: str = "") -> dict[str, Any]:
        """The insuinfo row of ``insutype``; without one, the first active row (the one a purchase settles under)."""
        for row in self.insuinfo:
            if insutype and str(row.get("insutype")) == insutype:
                return row
        active = [r for r in self.insuinfo if str(r.get("psn_insu_stas") or "1") == "1"]
        return (active or self.insuinfo)[0]

    @property
    def insutype(self) -> str:
        return str(self.insurance().get("insutype") or "")

    @property
    def insuplc_admdvs(self) -> str:
        return str(self.insurance().get("insuplc_admdvs") or "")

    def insured_in(self, admdvs: str) -> bool:
        return any(str(r.get("insuplc_admdvs")) == admdvs for r in self.insuinfo)


@dataclass
class EcToken:
    """An e-voucher token (``ecToken``) the decode service issued, or one seeded with the person (no expiry)."""
    token: str
    psn_no: str
    expires: datetime | None


@dataclass
class FilingRecord:
    """A chronic/special-disease filing. ``filing`` is the rule module's view with every insurer fact (drug by
    generic name, designated institution, responsible physicians by code and name, review, cross-province approval);
    5301 answers only its disease and dates."""
    psn_no: str
    filing: Filing
    fixmedins_code: str
    fixmedins_name: str
    insutype: str
    seq: int


@dataclass
class Institution:
    """A designated institution as 1201 answers it."""
    fixmedins_code: str
    fixmedins_name: str
    fixmedins_type: str = "1"
    hosp_lv: str = ""
    uscc: str = ""


@dataclass
class CatalogRecord:
    """A drug: its 1312 row as answered, the insurer's adjudication facts (``entry``: category, payment standard,
    agreement end — never answered) and its 1318 price ceiling."""
    row: dict[str, Any]
    entry: CatalogEntry
    ceiling: Decimal
    ceiling_row: dict[str, Any] = field(default_factory=dict)
    dosage_form: str = ""      # 剂型, which a prescription's 7203 rxdrugdetail names (drug_dosform)


@dataclass
class RxRecord:
    """A circulated prescription: the 7203 answer ``body`` (``data``, ``rxdrugdetail``, ``mdtrtinfo``,
    ``diseinfo``), the rule module's view of it (``rule``), and the platform's state. ``status`` is what was done
    with it (valid, dispensed, revoked); expiry is computed from its validity."""
    hi_rxno: str
    psn_no: str
    body: dict[str, Any]
    rule: Prescription
    status: RxStatus = "valid"
    epc_qrcd: str = ""
    prescriber_code: str = ""


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
    invono: str = ""
    clr_optins: str = ""
    pool_prop: Decimal = ZERO          # the fund's ratio applied (setlinfo pool_prop_selfpay)
    detail: list[dict[str, Any]] = field(default_factory=list)   # the setldetail rows answered


@dataclass
class Processed:
    """A message that changed the books, kept by msgid: replays answer ``output`` again (never commit twice) and
    2601 finds here what to undo."""
    msgid: str
    infno: str
    output: dict[str, Any] | None
    setl_id: str = ""
    codes: tuple[str, ...] = ()
    reversed: bool = False


class Books:
    def __init__(self, policy: Any, *, clock: Callable[[], datetime] = datetime.now):
        self.lock = threading.RLock()
        self.policy = policy
        self.clock = clock
        self._serial = 0   # never reset: ids stay unique across POST /sandbox/reset while rxlane keeps its ledger
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.persons: dict[str, Person] = {}
            self.ec_tokens: dict[str, EcToken] = {}
            self.filings: list[FilingRecord] = []
            self.catalog: dict[str, CatalogRecord] = {}
            self.institutions: dict[str, Institution] = {}
            self.physicians: dict[str, str] = {}    # code → name
            self.prescriptions: dict[str, RxRecord] = {}
            self.auth_rxnos: dict[str, str] = {}     # auth_rxno → hi_rxno, removed when used (single use)
            self.epc_tokens: dict[str, str] = {}     # epc_token → hi_rxno
            self.sign_ins: list[dict[str, Any]] = []
            self.settlements: dict[str, Settlement] = {}
            self.uploads: list[dict[str, Any]] = []
            self.sold_codes: dict[str, Any] = {}    # trace code → what sold it (uploads.py)
            self.processed: dict[str, Processed] = {}
            self.reversed_unseen: set[str] = set()  # 2601 arrived before (or instead of) its original
            self.reviews: list[dict[str, Any]] = []

    # -- clock and ids --------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.clock().date()

    def next_serial(self) -> int:
        with self.lock:
            self._serial += 1
            return self._serial

    def new_id(self, prefix: str, width: int = 6) -> str:
        return f"{prefix}{self.now().strftime('%Y%m%d%H%M%S')}{self.next_serial():0{width}d}"

    # -- look-ups -------------------------------------------------------------------------------------------------
    def filings_of(self, psn_no: str) -> list[FilingRecord]:
        return [r for r in self.filings if r.psn_no == psn_no]

    def person_by_token(self, token: str) -> Person | None:
        """The holder of a live e-voucher token (an expired or unknown token names nobody)."""
        held = self.ec_tokens.get(token)
        if held is None or (held.expires is not None and held.expires < self.now()):
            return None
        return self.persons.get(held.psn_no)

    def person_by_certno(self, certno: str) -> Person | None:
        key = certno.strip().upper()
        return next((p for p in self.persons.values() if key and p.certno.upper() == key), None)

    def person_by_card(self, card_no: str, card_sn: str) -> Person | None:
        key = card_no.strip().upper()
        return next((p for p in self.persons.values()
                     if key and p.card_no.upper() == key and card_sn.strip() == p.card_sn), None)

    def rx_status(self, rx: RxRecord) -> RxStatus:
        """The platform's status today: a valid prescription past its validity reads as expired."""
        if rx.status == "valid" and self.today() > last_valid_day(rx.rule):
            return "expired"
        return rx.status

    def register_institution(self, code: str, name: str = "", hosp_lv: str = "", *, only_new: bool = False) -> None:
        """Learn an institution from a filing or prescription: a new one is added; a known one takes a new name
        (unless ``only_new``) and a level it did not have."""
        inst = self.institutions.get(code)
        if inst is None:
            self.institutions[code] = Institution(code, name, "1", hosp_lv)
            return
        if name and not only_new:
            inst.fixmedins_name = name
        if hosp_lv and not inst.hosp_lv:
            inst.hosp_lv = hosp_lv

    def institution_name(self, code: str) -> str:
        inst = self.institutions.get(code)
        return inst.fixmedins_name if inst else ""

    # -- accumulators ---------------------------------------------------------------------------------------------
    def apply_delta(self, psn_no: str, delta: dict[str, Decimal], sign: int = 1, insutype: str = "") -> None:
        """Add (sign 1) or take back (sign -1) what one settlement did to the person's year-to-date and balance."""
        person = self.persons.get(psn_no)
        if person is None:
            return
        for key in YTD_KEYS:
            person.cum[key] = person.cum[key] + sign * delta.get(key, ZERO)
        row = person.insurance(insutype)
        row["balc"] = Decimal(str(row.get("balc") or "0")) - sign * delta.get("acct_pay", ZERO)

    # -- the ledger view (docs/sandbox.md) ------------------------------------------------------------------------
    def ledger(self) -> dict[str, Any]:
        with self.lock:
            settlements = []
            for s in self.settlements.values():
                row: dict[str, Any] = {"setl_id": s.setl_id, "mdtrt_id": s.mdtrt_id, "msgid": s.msgid,
                                       "psn_no": s.psn_no, "state": s.state, "setl_time": s.setl_time,
                                       "hi_rxno": s.hi_rxno, "institution_code": s.institution_code,
                                       "insutype": s.insutype, "fixmedins_code": s.fixmedins_code,
                                       "cancel_msgid": s.cancel_msgid, "cancel_setl_id": s.cancel_setl_id,
                                       "invono": s.invono}
                row.update({k: money_str(v) for k, v in s.split.items()})
                row["lines"] = [{k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in line.items()}
                                for line in s.lines]
                settlements.append(row)
            return {
                "settlements": settlements,
                "uploads": [dict(u, codes=list(u["codes"])) for u in self.uploads],
                "prescriptions": [{"hi_rxno": rx.hi_rxno, "psn_no": rx.psn_no, "status": self.rx_status(rx)}
                                  for rx in self.prescriptions.values()],
                "accumulators": {p.psn_no: {**{k: money_str(v) for k, v in p.cum.items()},
                                            "balc": money_str(p.insurance().get("balc") or ZERO)}
                                 for p in self.persons.values()},
                "sign_ins": [{k: v for k, v in s.items() if k != "day"} for s in self.sign_ins],
                "reversed_unseen": sorted(self.reversed_unseen),
            }
