"""No unmasked personal data in any answer to a caller without the `pii` scope (docs/security.md, 个人信息保护法 §51:
minimum exposure). For every demo patient, every answer of the counter flow — identify by each card, scans of each
card, prescriptions, sale, presettle, settle, slip, refund, day list, health, events, errors — is searched for the
full ID number, card number, card identification code, e-voucher QR value and every token the decode service issued,
and insurance number. Masked forms are fine.
"""
from __future__ import annotations

import threading
import time
from datetime import date

import pytest
import requests

from tests.e2e.conftest import OSIMERTINIB, PERSONS as BY_NAME, pack, prefix_of
from tests.security.conftest import assert_no_pii, assert_sane, demo_secrets

PERSONS = list(BY_NAME.values())
HOW = ("id_card", "ecard", "ss_card")


class EventTap:
    """Reads /v1/events in the background for the whole test, so scan and sale events are searched too."""

    def __init__(self, base: str):
        self.text = ""
        self._stop = threading.Event()
        self._resp = requests.get(base + "/v1/events", stream=True, timeout=30)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for chunk in self._resp.iter_content(chunk_size=None, decode_unicode=True):
                self.text += chunk
                if self._stop.is_set():
                    break
        except Exception:  # noqa: BLE001 — the stream is closed under us at the end
            pass

    def close(self) -> str:
        time.sleep(0.6)  # one heartbeat, so the last events are flushed
        self._stop.set()
        self._resp.close()
        return self.text


def _identify_body(person: dict, how: str) -> dict:
    return {"id_card": {"cert_type": "id_card", "cert_no": person["certno"]},
            "ecard": {"cert_type": "ecard", "cert_no": person["ecard_qr"]},
            "ss_card": {"cert_type": "ss_card", "cert_no": person["card_no"], "card_sn": person["card_sn"]}}[how]


@pytest.mark.parametrize("person", PERSONS, ids=lambda p: p["psn_no"][-3:])
def test_no_answer_of_the_counter_flow_carries_unmasked_personal_data(live, person):
    http = live.http
    tap = EventTap(live.base)
    answers: list[tuple[str, requests.Response]] = []

    def keep(label: str, r: requests.Response) -> requests.Response:
        answers.append((label, r))
        return r

    for raw in (person["certno"], person["ecard_qr"], person["card_no"], f"]Q3{person['ecard_qr']}\r\n",
                person["certno"].lower()):
        keep("scan", http.post("/v1/scans", {"raw": raw}))
    refs = []
    for how in HOW:
        r = keep(f"identify {how}", http.post("/v1/patients/identify", _identify_body(person, how)))
        if r.status_code == 200:
            refs.append(r.json()["patient_ref"])
    assert refs, f"no identification of {person['psn_no']} succeeded: {answers[-1][1].text[:300]}"
    ref = refs[0]
    keep("prescriptions", http.get("/v1/prescriptions", params={"patient_ref": ref}))
    r = keep("sale", http.post("/v1/sales", {"patient_ref": ref, "acct_used": True, "confirm_selfpay": True, "lines": [
        {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00",
         "trace_codes": [pack(prefix_of(OSIMERTINIB))]}]}))
    assert r.status_code == 201, r.text
    sale = r.json()["id"]
    keep("presettle", http.post(f"/v1/sales/{sale}/presettle", {"confirm_selfpay": True}))
    settled = keep("settle", http.post(f"/v1/sales/{sale}/settle", {"confirm_selfpay": True}))
    keep("sale view", http.get(f"/v1/sales/{sale}"))
    keep("slip.txt", http.get(f"/v1/sales/{sale}/slip.txt"))
    if settled.status_code == 200 and settled.json().get("setl_id"):
        keep("by setl_id", http.get("/v1/sales", params={"setl_id": settled.json()["setl_id"]}))
    keep("refund", http.post(f"/v1/sales/{sale}/refund", {"reason": f"退货 {person['psn_name']}"}))
    keep("day", http.get("/v1/sales", params={"date": date.today().isoformat()}))
    keep("health", http.get("/v1/health"))
    keep("report", http.get("/v1/reports/monthly", params={"month": date.today().strftime("%Y-%m"), "format": "csv"}))
    # refusals that carry the person's data in the request must not echo it back
    keep("bad identify", http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": person["certno"],
                                                              "psn_name": person["psn_name"], "nope": 1}))
    keep("wrong type", http.post("/v1/patients/identify", {"cert_type": "ss_card", "cert_no": person["certno"] + "X"}))
    keep("long", http.post("/v1/patients/identify", {"cert_type": "ecard", "cert_no": person["ecard_qr"] * 40}))
    keep("bad scan", http.post("/v1/scans", {"raw": person["certno"] + "\x00"}))
    events = tap.close()

    secrets = demo_secrets(live.sandbox)   # now with the e-voucher tokens the identifications above were issued
    assert any(what == "ecToken" for _, what, _ in secrets)
    for label, r in answers:
        assert_sane(r, where=label)
        assert_no_pii(r.content.decode("utf-8", "replace"), f"{label} [{r.status_code}]", secrets=secrets)
        assert_no_pii(" ".join(f"{k}: {v}" for k, v in r.headers.items()), f"{label} headers", secrets=secrets)
    assert "event:" in events or ":" in events
    assert_no_pii(events, "/v1/events", secrets=secrets)


def test_an_unknown_id_number_is_not_echoed_in_the_refusal(live):
    unknown = "110101199003070417"   # checksum-valid, not a demo person
    r = live.http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": unknown})
    assert_sane(r)
    assert r.status_code == 404 and unknown not in r.text, r.text


def test_masked_forms_are_present_so_the_pharmacist_can_still_check_the_person(live):
    person = PERSONS[0]
    r = live.http.post("/v1/patients/identify", _identify_body(person, "id_card"))
    body = r.json()
    assert body["person"]["certno"].startswith(person["certno"][:4]) and body["person"]["certno"].endswith(
        person["certno"][-4:]) and "*" in body["person"]["certno"]
    scan = live.http.post("/v1/scans", {"raw": person["ecard_qr"]}).json()
    assert scan["kind"] == "ecard" and "*" in scan["token_masked"]


@pytest.mark.parametrize("where", ["drug code", "patient_ref of a sale", "patient_ref of prescriptions"])
def test_an_id_number_put_in_the_wrong_field_is_not_echoed_in_the_refusal(live, where):
    """A scanner's focus in the wrong field, or a POS that sends the ID number instead of the patient_ref: the
    refusal (DRUG_NOT_FOUND / PATIENT_NOT_FOUND details, and its log line) must not carry the number in full —
    `plugin.privacy.scrub` masks ID-shaped text."""
    person = PERSONS[0]
    ref = live.http.post("/v1/patients/identify", _identify_body(person, "id_card")).json()["patient_ref"]
    line = {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00"}
    if where == "drug code":
        r = live.http.post("/v1/sales", {"patient_ref": ref, "lines": [{**line, "med_list_codg": person["certno"]}]})
    elif where == "patient_ref of a sale":
        r = live.http.post("/v1/sales", {"patient_ref": person["certno"], "lines": [line]})
    else:
        r = live.http.get("/v1/prescriptions", params={"patient_ref": person["certno"]})
    assert_sane(r)
    assert r.status_code in (404, 422), r.text
    assert_no_pii(r.text, where)
