"""A pharmacy's day against the strict sandbox insurer (docs/reconciliation.md): rxlane with the province's demo list
installed, a roster of two pharmacists on duty, a stock batch per drug, and a counter that sells the way a POS does
(identify → download the prescription → sale with its packs → settle). Every sale is against a fresh circulated
prescription of the demo patient, so sales never see each other's."""
from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Http, ServerThread, make_service

ZHANG = {"psn_no": "36010000000000000101", "certno": "360121196805122010"}
OSIMERTINIB = {"med_list_codg": "XL01EBA341A001010100701", "price": "4837.00", "prefix": "8690701",
               "institution_code": "H36011100301", "physician_code": "D360111003001"}
PHARMACISTS = [{"name": "李志强", "certno": "360103198507091013", "prac_cert_no": "ZY3601202100123"},
               {"name": "陈立", "certno": "360111199001011236", "prac_cert_no": "ZY3601202100456"}]
LI, CHEN = (p["prac_cert_no"] for p in PHARMACISTS)
_codes = itertools.count(random.randrange(10 ** 9, 10 ** 11))
_RX_START = random.randrange(10 ** 6, 10 ** 7)
_rxnos = itertools.count(_RX_START)
_ISSUED = datetime.now().replace(microsecond=0) - timedelta(hours=3)


def fresh_codes(n: int = 1, prefix: str = OSIMERTINIB["prefix"]) -> list[str]:
    return [f"{prefix}{next(_codes):013d}" for _ in range(n)]


def install_demo_list(data_dir: Path) -> None:
    """The province's dual-channel list (the sandbox's demo one), as `rxlane catalog import` installs it."""
    from adapters.sandbox.demo import demo_list_csv
    from plugin.dclist import install_document, installed_path
    from plugin.dclist.columns import Mapping
    from plugin.dclist.install import read_province_file
    imported = read_province_file(demo_list_csv(date.today()), "dual-channel-list.csv", mapping=Mapping(),
                                  categories=("A", "B", "C"))
    install_document(installed_path(data_dir), imported.document)


def new_prescription(sandbox_http: Http, drug: dict = OSIMERTINIB, qty: str = "1") -> str:
    n = next(_rxnos)
    hi_rxno = f"HX3601110030{n:010d}"
    # each at its own second: a listing's prescription is known by its institution and issuing time (7202 has no
    # prescription number), so two issued in one second would read as one
    issued = (_ISSUED + timedelta(seconds=n - _RX_START)).strftime("%Y-%m-%d %H:%M:%S")
    r = sandbox_http.post("/sandbox/prescriptions", {
        "hi_rxno": hi_rxno, "psn_no": ZHANG["psn_no"], "institution_code": drug["institution_code"],
        "physician_code": drug["physician_code"], "issued_at": issued, "valid_days": 3,
        "lines": [{"med_list_codg": drug["med_list_codg"], "qty": qty}]})
    assert r.status_code == 201, r.text
    return hi_rxno


@dataclass
class Counter:
    """One counter of the store: its service, its API, and the insurer it talks to."""
    svc: Any
    http: Http
    sandbox_http: Http
    books: Any = None          # the in-process sandbox's books (what its ledger view does not show)

    def sell(self, qty: int = 1, *, codes: list[str] | None = None, settle: bool = True,
             **line: Any) -> dict[str, Any]:
        """Identify the demo patient, download a fresh prescription, ring up ``qty`` packs, settle."""
        hi_rxno = new_prescription(self.sandbox_http, qty=str(qty))
        r = self.http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]})
        assert r.status_code == 200, r.text
        ref = r.json()["patient_ref"]
        r = self.http.get(f"/v1/prescriptions?patient_ref={ref}")
        assert r.status_code == 200, r.text
        assert hi_rxno in {p["hi_rxno"] for p in r.json()["prescriptions"]}, r.text
        r = self.http.post("/v1/sales", {"patient_ref": ref, "hi_rxno": hi_rxno, "lines": [{
            "med_list_codg": OSIMERTINIB["med_list_codg"], "qty": str(qty), "price": OSIMERTINIB["price"],
            "trace_codes": codes or fresh_codes(qty), **line}]})
        assert r.status_code == 201, r.text
        sale = r.json()
        if not settle:
            return sale
        r = self.http.post(f"/v1/sales/{sale['id']}/settle")
        assert r.status_code == 200, r.text
        return r.json()

    def sale(self, sale_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/sales/{sale_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def health(self) -> dict[str, Any]:
        return self.http.get("/v1/health").json()

    def insurer(self) -> dict[str, Any]:
        return self.sandbox_http.get("/sandbox/ledger").json()

    def uploads_of(self, sale: dict[str, Any], infno: str = "3505") -> list[dict[str, Any]]:
        msgids = {j["msgid"] for j in self.sale(sale["id"])["journal"]}
        return [u for u in self.insurer()["uploads"] if u["msgid"] in msgids and u["infno"].startswith(infno)]


@pytest.fixture
def counter_factory(tmp_path, sandbox) -> Iterator[Any]:
    """Start a counter (rxlane on real HTTP against the shared sandbox); keyword sections override settings."""
    from plugin.app import create_app
    running: list[tuple[Any, ServerThread]] = []
    sandbox_http = Http(sandbox.url)

    def start(name: str = "counter", *, duty: bool = True, stock: bool = True, **sections: Any) -> Counter:
        data_dir = tmp_path / name
        install_demo_list(data_dir)
        sections.setdefault("pharmacists", PHARMACISTS)
        svc = make_service(data_dir, sandbox.url, **sections)
        server = ServerThread(create_app(svc))
        running.append((svc, server))
        counter = Counter(svc, Http(server.url), sandbox_http, sandbox.app.extensions["sandbox.books"])
        if svc.settings.server.tokens_required:   # the counter's own POS then needs its token too
            from plugin import tokens
            _, pos_token = tokens.create(svc.ledger, "POS", ["sales", "admin"])
            counter.http.session.headers["Authorization"] = f"Bearer {pos_token}"
        if duty:
            r = counter.http.put("/v1/pharmacist", {"pharmacist": LI, "checker": CHEN})
            assert r.status_code == 200, r.text
        if stock:
            r = counter.http.post("/v1/stock", {"med_list_codg": OSIMERTINIB["med_list_codg"], "lot": "B2409117",
                                                "manu_date": "2024-09-11", "expy_end": "2027-08-31",
                                                "bchno": "PC20251015000321", "prdr_name": "示例制药有限公司"})
            assert r.status_code == 201, r.text
        return counter

    yield start
    for svc, server in running:
        server.stop()
        try:
            svc.close()
        except Exception:   # noqa: BLE001 — teardown of a service a test may have broken on purpose
            svc.ledger.close()


@pytest.fixture
def counter(counter_factory) -> Counter:
    return counter_factory()
