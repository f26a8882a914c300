"""A province whose gateway is a front-end library: with `[nhsa] transport = "dll"` the whole counter flow — sign-in,
identification, prescription, settlement, the in-doubt repair — goes through INIT/BUSINESS_HANDLE of a compiled
stand-in that forwards to the sandbox insurer; `[nhsa] url` points nowhere, so no message can take the HTTP path."""
import threading
import time

import pytest

from tests.e2e.conftest import identify, new_sale


@pytest.fixture
def counter(service_factory, front_end):
    return service_factory(nhsa={"url": "http://127.0.0.1:9", "transport": "dll", "dll_path": str(front_end.path)})


def test_a_sale_settles_through_the_front_end_library(counter, front_end, sandbox_http):
    _, http = counter
    ref = identify(http)["patient_ref"]
    sale = new_sale(http, ref)
    done = http.post(f"/v1/sales/{sale['id']}/settle")
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "settled"
    books = sandbox_http.get("/sandbox/ledger").json()
    assert [s["state"] for s in books["settlements"] if s["setl_id"] == done.json()["setl_id"]] == ["settled"]
    calls = front_end.calls()
    assert calls[0] == "INIT" and calls.count("INIT") == 1
    assert {"BUSINESS_HANDLE 9001", "BUSINESS_HANDLE 1101", "BUSINESS_HANDLE 2102"} <= set(calls)
    assert http.get("/v1/health").json()["upstream"]["url"] == f"dll:{front_end.path}"


def test_a_front_end_crashing_after_the_insurer_settled_puts_the_sale_in_doubt_and_2601_repairs_it(
        counter, front_end, sandbox_http):
    _, http = counter
    sale = new_sale(http, identify(http)["patient_ref"])
    front_end.set(mode="crash", fault_infno="2102", when="after")
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT"
    assert http.get("/v1/health").status_code == 200              # the service is alive
    front_end.set(mode="forward")
    resolved = http.post(f"/v1/sales/{sale['id']}/resolve").json()
    assert resolved["state"] == "reversed"
    msgid = next(j["msgid"] for j in resolved["journal"] if j["infno"] == "2102")
    books = sandbox_http.get("/sandbox/ledger").json()
    assert [s["state"] for s in books["settlements"] if s["msgid"] == msgid] == ["reversed"]
    assert front_end.calls().count("BUSINESS_HANDLE 2102") == 1          # never a second 2102
    assert "BUSINESS_HANDLE 2601" in front_end.calls()


def test_a_hanging_front_end_times_out_in_doubt_while_the_service_keeps_answering(counter, front_end):
    _, http = counter
    sale = new_sale(http, identify(http)["patient_ref"])
    front_end.set(mode="hang", fault_infno="2102", when="after")
    answers = {}
    settling = threading.Thread(target=lambda: answers.setdefault("r", http.post(f"/v1/sales/{sale['id']}/settle")))
    settling.start()
    end = time.monotonic() + 10
    while "BUSINESS_HANDLE 2102" not in front_end.calls() and time.monotonic() < end:
        time.sleep(0.05)
    assert http.get("/v1/health").status_code == 200
    assert http.post("/v1/scans", {"raw": "86907010000000000001"}).status_code == 200
    settling.join(30)
    r = answers["r"]
    assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT"


def test_a_front_end_library_that_does_not_exist_leaves_the_service_up_and_nothing_charged(service_factory, tmp_path):
    _, http = service_factory(nhsa={"url": "http://127.0.0.1:9", "transport": "dll",
                                    "dll_path": str(tmp_path / "SiInterface_hsf.dll")})
    r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": "360121196805122010"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert r.json()["error"]["details"]["reason"] == "FrontEndUnavailable"
    health = http.get("/v1/health").json()
    assert health["upstream"]["reachable"] is False and health["upstream"]["last_error"] == "FrontEndUnavailable"
