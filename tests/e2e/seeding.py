"""Seeding the sandbox insurer through its admin API (docs/sandbox.md) for the eligibility and estimate tests.

A `Case` is one patient, one drug, one filing and one circulated prescription that are all good — the patient can
buy the drug with the fund paying — unless a test overrides exactly one fact. Every case gets fresh identities
(psn_no, ID number with a valid check digit, drug code, generic name, trace prefix), so cases never see each
other's books and many tests can share one running sandbox and service (`counter`).

Dates are relative to the real today, because the sandbox and the service both run on the real clock.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from stdnum.cn import ric

from tests.conftest import Http, ServerThread, make_service

# Demo institutions and physicians (adapters/sandbox/data/README.md), all in Jiangxi.
HOSPITAL = "H36010200101"           # 江西省示范人民医院, Nanchang, level 3
OTHER_HOSPITAL = "H36011100301"     # 江西示范肿瘤医院, Nanchang, level 3
DOCTOR = "D360102001001"            # 黄志明 — the responsible physician of every seeded filing
OTHER_DOCTOR = "D360102001003"      # 孙浩 — responsible for nobody
# A hospital elsewhere in the province (上饶, 361100), for 首次备案，全省互认 (赣医保发〔2022〕2号 §二(四)5).
SHANGRAO_HOSPITAL = "H36110000101"
SHANGRAO_DOCTOR = "D361100001001"

_serial = itertools.count(1)


def day(offset: int = 0) -> str:
    """today + offset days, ISO."""
    return (date.today() + timedelta(days=offset)).isoformat()


def new_certno(admdvs: str, n: int) -> str:
    """An 18-digit resident ID number with a valid check digit (GB 11643), unique per n."""
    born = date(1950, 1, 1) + timedelta(days=n * 37 % 18000)
    body = f"{admdvs}{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")   # stdnum takes the number with a check place


def new_person(*, insutype: str = "310", insuplc_admdvs: str = "360102", balc: str = "1000.00",
               ytd: dict[str, str] | None = None) -> dict[str, Any]:
    n = next(_serial)
    return {"psn_no": f"{insuplc_admdvs}{n + 900000:014d}", "certno": new_certno(insuplc_admdvs, n),
            "psn_name": f"测试患者{n}", "insutype": insutype, "insuplc_admdvs": insuplc_admdvs, "balc": balc,
            "ytd": ytd or {"deductible_paid": "0", "fund_paid": "0", "selfpay": "0", "supplementary_paid": "0"}}


def new_drug(*, category: str = "A", payment_standard: str = "1000.00", agreement_end: str | None = None,
             transition_end: str | None = None) -> dict[str, Any]:
    n = next(_serial)
    entry = {"med_list_codg": f"XT{n:05d}{category}00201010{n:05d}", "generic_name": f"测试单抗{n}",
             "drug_name": f"测试单抗注射液{n}", "spec": "100mg/瓶", "category": category,
             "payment_standard": payment_standard, "agreement_end": agreement_end or day(365),
             "trace_prefixes": [f"87{n:05d}"]}
    if transition_end:
        entry["transition_end"] = transition_end
    return entry


def new_filing(person: dict, drug: dict, **overrides: Any) -> dict[str, Any]:
    """A filing valid today at HOSPITAL with DOCTOR responsible, no review needed."""
    return {"psn_no": person["psn_no"], "generic_name": drug["generic_name"], "institution_code": HOSPITAL,
            "hosp_lv": "3", "physicians": [DOCTOR], "begin": day(-30), "end": day(335), "review": "none",
            **overrides}


def new_prescription(person: dict, lines: list[tuple[dict, str]], **overrides: Any) -> dict[str, Any]:
    """A valid 3-day prescription issued today at HOSPITAL by DOCTOR."""
    n = next(_serial)
    return {"hi_rxno": f"HXT{n:019d}", "psn_no": person["psn_no"], "institution_code": HOSPITAL,
            "physician_code": DOCTOR, "issued_at": f"{day(0)} 00:05:00", "valid_days": 3,
            "lines": [{"med_list_codg": d["med_list_codg"], "qty": qty} for d, qty in lines], **overrides}


def trace_codes(drug: dict, qty: str) -> list[str]:
    """Fresh 20-digit pack codes of this drug, one per pack."""
    return [f"{drug['trace_prefixes'][0]}{next(_serial):013d}" for _ in range(max(1, int(Decimal(qty))))]


@dataclass
class Case:
    """One seeded patient with the drugs of one prescription (and, normally, a filing per drug)."""
    person: dict[str, Any]
    drugs: list[dict[str, Any]]
    qtys: list[str]
    filings: list[dict[str, Any]]
    rx: dict[str, Any]

    @property
    def drug(self) -> dict[str, Any]:
        return self.drugs[0]

    @property
    def filing(self) -> dict[str, Any] | None:
        return self.filings[0] if self.filings else None

    @property
    def hi_rxno(self) -> str:
        return self.rx["hi_rxno"]


def _created(r) -> None:
    assert r.status_code in (200, 201), r.text


def post_person(sandbox: Http, person: dict) -> None:
    _created(sandbox.post("/sandbox/persons", person))


def post_drug(sandbox: Http, drug: dict) -> None:
    _created(sandbox.post("/sandbox/catalog", drug))


def list_in_store(svc: Any, drugs: list[dict]) -> None:
    """Put seeded drugs on the store's imported dual-channel list, as the province's list would carry them
    (docs/data-sources.md): the counter reads category, payment standard, agreement dates and pack prefixes there,
    never from the gateway. Keeps what the list already holds."""
    from plugin.dclist import DualChannelEntry, ListMeta, build_document, install_document, installed_path
    from plugin.service import data_dir
    current = svc.catalog.dual_channel_list()
    seeded = {d["med_list_codg"] for d in drugs}
    kept = [e for e in (current.entries if current is not None else ()) if e.med_list_codg not in seeded]
    added = [DualChannelEntry(
        med_list_codg=d["med_list_codg"], generic_name=d["generic_name"], drug_name=d.get("drug_name", ""),
        dosage_form="注射剂", spec=d.get("spec", ""), category=d["category"],
        payment_standard=Decimal(d["payment_standard"]), agreement_start=date.today() - timedelta(days=365),
        agreement_end=date.fromisoformat(d["agreement_end"]),
        transition_end=date.fromisoformat(d["transition_end"]) if d.get("transition_end") else None,
        trace_prefixes=tuple(d.get("trace_prefixes", ())), line=len(kept) + i + 2) for i, d in enumerate(drugs)]
    entries = kept + added
    meta = ListMeta(source="测试目录", publication_date=None, imported_at=datetime.now().astimezone().isoformat(),
                    original_name="seeded.csv", sha256="0" * 64, rows=len(entries), region=svc.policy.region)
    install_document(installed_path(data_dir(svc.settings), svc.settings.catalog.list_file),
                     build_document(entries, meta))


def post_filing(sandbox: Http, filing: dict) -> None:
    _created(sandbox.post("/sandbox/filings", filing))


def post_prescription(sandbox: Http, rx: dict) -> None:
    _created(sandbox.post("/sandbox/prescriptions", rx))


def seed_case(sandbox: Http, *, person: dict | None = None, drug: dict | None = None,
              filing: dict | None | bool = True, rx: dict | None = None, qty: str = "1",
              lines: list[tuple[dict, str]] | None = None, seed_filing: bool = True, store: Any = None) -> Case:
    """Seed an all-good case; each keyword overrides fields of that part (``filing=None``: no filing at all).

    ``lines`` = [(drug overrides, qty), …] seeds a prescription of several drugs, each with its own filing (the
    ``filing`` overrides apply to every one); ``seed_filing=False`` builds the filings without sending them.
    ``store``: the rxlane service whose imported list gets the drugs (``list_in_store``)."""
    p = new_person(**(person or {}))
    wanted = lines or [(drug or {}, qty)]
    drugs = [new_drug(**d) for d, _ in wanted]
    qtys = [q for _, q in wanted]
    filings = [] if filing is None else [new_filing(p, d, **(filing if isinstance(filing, dict) else {}))
                                         for d in drugs]
    prescription = new_prescription(p, list(zip(drugs, qtys, strict=True)), **(rx or {}))
    post_person(sandbox, p)
    for d in drugs:
        post_drug(sandbox, d)
    if store is not None:
        list_in_store(store, drugs)
    if seed_filing:
        for f in filings:
            post_filing(sandbox, f)
    post_prescription(sandbox, prescription)
    return Case(p, drugs, qtys, filings, prescription)


def identify(http: Http, person: dict, *, list_rx: bool = True) -> str:
    """The patient_ref of this seeded person (by ID number, as a card reader would send it); then, as the counter
    does, the patient's circulated prescriptions are listed and downloaded (7202/7203) so a sale can name one."""
    r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": person["certno"]})
    assert r.status_code == 200, r.text
    ref = r.json()["patient_ref"]
    if list_rx:
        listed = http.get(f"/v1/prescriptions?patient_ref={ref}")
        assert listed.status_code == 200, listed.text
    return ref


def sale_body(ref: str, case: Case, *, price: str | None = None, donated: bool = False,
              hi_rxno: str | None = None, **extra: Any) -> dict[str, Any]:
    """A sale of every drug of the case's prescription at its payment standard (or ``price``), packs scanned."""
    return {"patient_ref": ref, "hi_rxno": hi_rxno or case.hi_rxno, "acct_used": True,
            "lines": [{"med_list_codg": d["med_list_codg"], "qty": q, "price": price or d["payment_standard"],
                       "trace_codes": trace_codes(d, q), "donated": donated}
                      for d, q in zip(case.drugs, case.qtys, strict=True)], **extra}


def create_sale(http: Http, body: dict) -> dict[str, Any]:
    r = http.post("/v1/sales", body)
    assert r.status_code == 201, r.text
    return r.json()


def settlements_of(sandbox: Http, psn_no: str) -> list[dict[str, Any]]:
    """The insurer's settlements of this person (its books, not rxlane's)."""
    return [s for s in sandbox.get("/sandbox/ledger").json()["settlements"] if s["psn_no"] == psn_no]


def rx_status(sandbox: Http, hi_rxno: str) -> str:
    return next(p["status"] for p in sandbox.get("/sandbox/ledger").json()["prescriptions"]
                if p["hi_rxno"] == hi_rxno)


@dataclass
class Counter:
    """One running rxlane (real HTTP) against one running sandbox insurer."""
    svc: Any
    http: Http
    sandbox: Http


@contextmanager
def running_counter(data_dir: Path, *, policy: str = "jiangxi", **sections: Any) -> Iterator[Counter]:
    """A sandbox (demo books, this region's policy) and an rxlane pointed at it, for a module's worth of tests
    that each seed their own identities."""
    from adapters.sandbox.server import start_sandbox
    from plugin.app import create_app
    sb = start_sandbox("127.0.0.1", 0, demo=True, policy=policy)
    svc = make_service(data_dir, sb.url, **sections)
    server = ServerThread(create_app(svc))
    try:
        yield Counter(svc, Http(server.url), Http(sb.url))
    finally:
        server.stop()
        try:
            svc.close()
        finally:
            sb.shutdown()
