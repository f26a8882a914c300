"""Demo identities and a few steps of the counter flow, shared by the end-to-end tests."""
from __future__ import annotations

import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest
from tests.standins import card_library, front_end, standins  # noqa: F401  (stand-in library fixtures)

DEMO = json.loads((Path(__file__).resolve().parents[2] / "adapters/sandbox/data/demo.json").read_text("utf-8"))


def flat_person(p: dict) -> dict:
    """A demo person (the gateway's 1101 shapes) as the tests use it: psn_no, certno, psn_name, insutype,
    insuplc_admdvs, balc, and the credentials ecard_qr, card_no, card_sn."""
    base, insu = p["baseinfo"], p["insuinfo"][0]
    return {"psn_no": base["psn_no"], "certno": base["certno"], "psn_name": base["psn_name"],
            "insutype": insu["insutype"], "insuplc_admdvs": insu["insuplc_admdvs"], "balc": insu["balc"],
            "ecard_qr": p.get("ecard_qr", ""), "card_no": p.get("card_no", ""), "card_sn": p.get("card_sn", "")}


PERSONS = {flat["psn_name"]: flat for flat in map(flat_person, DEMO["persons"])}
ZHANG = PERSONS["张伟"]             # employee (310), Jiangxi, balance 5000
LIU = PERSONS["刘洋"]               # employee with a low balance (50.00)
OSIMERTINIB = "XL01EBA341A001010100701"   # 奥希替尼, class A, 4837.00
SECUKINUMAB = "XL04ACS251B002010100702"   # 司库奇尤单抗, class B, 598.00
RX_ZHANG_OSI = "HX36011100301000000001"
RX_LIU_SEC = "HX36010200101000000009"
_serial = itertools.count(1)


def pack(prefix: str) -> str:
    """A fresh 20-digit traceability code of the product with this 7-digit prefix."""
    return f"{prefix}{next(_serial):013d}"


def fresh_prescription(sandbox_http, person=ZHANG, med=OSIMERTINIB, qty: str = "1") -> str:
    """Another circulated prescription of this demo patient for this drug, issued an hour ago at 江西示范肿瘤医院 by
    罗晓峰 (the demo's designated hospital and physician): for a test that needs a second sale after the first
    dispensed the demo prescription."""
    from datetime import datetime, timedelta
    hi_rxno = f"HXT3601110030{next(_serial):09d}"
    issued = (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    r = sandbox_http.post("/sandbox/prescriptions", {
        "hi_rxno": hi_rxno, "psn_no": person["psn_no"], "institution_code": "H36011100301",
        "physician_code": "D360111003001", "issued_at": issued, "valid_days": 3,
        "lines": [{"med_list_codg": med, "qty": qty}]})
    assert r.status_code == 201, r.text
    return hi_rxno


def prefix_of(med_list_codg: str) -> str:
    return next(e for e in DEMO["catalog"] if e["hilist_code"] == med_list_codg)["trace_prefixes"][0]


def identify(http, person=ZHANG, how="id_card") -> dict:
    body = {"id_card": {"cert_type": "id_card", "cert_no": person["certno"]},
            "ecard": {"cert_type": "ecard", "cert_no": person["ecard_qr"]},
            "ss_card": {"cert_type": "ss_card", "cert_no": person["card_no"], "card_sn": person["card_sn"]}}[how]
    r = http.post("/v1/patients/identify", body)
    assert r.status_code == 200, r.text
    return r.json()


def list_prescriptions(http, ref: str) -> dict:
    """GET /v1/prescriptions: lists the patient's circulated prescriptions (7202) and downloads each once (7203) —
    the counter's step before a sale on a prescription."""
    r = http.get(f"/v1/prescriptions?patient_ref={ref}")
    assert r.status_code == 200, r.text
    return r.json()


def new_sale(http, ref: str, med=OSIMERTINIB, qty="1", price="4837.00", rx=RX_ZHANG_OSI, codes=None, **extra):
    codes = [pack(prefix_of(med)) for _ in range(int(Decimal(qty)) or 1)] if codes is None else codes
    if rx:
        list_prescriptions(http, ref)
    r = http.post("/v1/sales", {"patient_ref": ref, "hi_rxno": rx, "acct_used": True,
                                "lines": [{"med_list_codg": med, "qty": qty, "price": price, "trace_codes": codes}],
                                **extra})
    assert r.status_code == 201, r.text
    return r.json()


def assert_invariant(split: dict) -> None:
    total = Decimal(split["fund_pay_sumamt"]) + Decimal(split["acct_pay"]) + Decimal(split["psn_cash_pay"])
    assert total == Decimal(split["medfee_sumamt"])
    assert Decimal(split["fund_pay_sumamt"]) == sum(Decimal(split[k]) for k in
                                                    ("hifp_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay"))


@pytest.fixture
def zhang(rx):
    svc, http = rx
    return identify(http)["patient_ref"]
