"""A card read through a vendor's standard library identifies the patient (type 03, the card's real card_sn), and a
library that crashes or hangs leaves the service answering (docs/vendor-libraries.md). The library is a compiled
stand-in run through the real worker process; the insurer is the sandbox over real HTTP."""
import json
import queue
import threading
import time

import pytest

from hardware.simulate import TcpScanner
from plugin import tokens
from tests.e2e.conftest import LIU, ZHANG
from tests.e2e.test_counter_devices import next_event, read_events


def device(http, name="card-1", headers=None) -> dict:
    return next(d for d in http.get("/v1/devices", headers=headers).json()["devices"] if d["name"] == name)


def wait_for(condition, timeout_s=10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def counter(service_factory, card_library):
    svc, http = service_factory(devices=[{"name": "card-1", "kind": "card_reader", "driver": "sscard_lib",
                                          "library": str(card_library.path), "read_type": 3, "timeout_s": 2}])
    assert wait_for(lambda: device(http)["state"] == "connected")
    return svc, http


def test_a_card_read_through_the_library_identifies_its_holder_by_card_number_and_card_sn(counter, card_library):
    _, http = counter
    card_library.insert(ZHANG)
    r = http.post("/v1/devices/card-1/read")
    assert r.status_code == 200, r.text
    scan = r.json()
    assert scan["kind"] == "ss_card" and scan["device"] == "card-1" and scan["scan_ref"]
    for secret in (ZHANG["card_no"], ZHANG["card_sn"], ZHANG["certno"], "张伟"):
        assert secret not in r.text
    patient = http.post("/v1/patients/identify", {"scan_ref": scan["scan_ref"]})
    assert patient.status_code == 200, patient.text
    assert patient.json()["person"]["psn_name"] == "张*"
    assert card_library.calls() == ["iReadCardBas 3"]


def test_a_card_whose_card_sn_does_not_match_its_number_is_not_a_patient(counter, card_library):
    _, http = counter
    card_library.answer(0, "|".join([ZHANG["card_sn"][:6], ZHANG["certno"], ZHANG["card_no"], LIU["card_sn"],
                                     "张伟", "00", "3.00", "20200115", "20300115", "1", "2", ""]).encode("gbk"))
    scan = http.post("/v1/devices/card-1/read").json()
    r = http.post("/v1/patients/identify", {"scan_ref": scan["scan_ref"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "PATIENT_NOT_FOUND"


def test_the_read_is_published_as_a_scan_event_for_the_counter_page(counter, card_library):
    _, http = counter
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=read_events, args=(http, events, stop), daemon=True).start()
    time.sleep(0.3)
    card_library.insert(ZHANG)
    answer = http.post("/v1/devices/card-1/read").json()
    try:
        assert next_event(events, "scan") == answer
    finally:
        stop.set()


def test_no_card_is_a_coded_409_in_chinese_and_the_reader_stays_connected(counter, card_library):
    _, http = counter
    card_library.remove()
    r = http.post("/v1/devices/card-1/read")
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "CARD_NOT_PRESENT" and "社保卡" in error["message_zh"]
    assert device(http)["state"] == "connected"


def test_a_crashing_library_is_a_coded_error_the_service_answers_and_the_reader_comes_back(counter, card_library):
    _, http = counter
    card_library.crash()
    r = http.post("/v1/devices/card-1/read")
    assert r.status_code == 503 and r.json()["error"]["code"] == "DEVICE_LIBRARY_FAILED"
    assert r.json()["error"]["details"]["reason"] == "crashed"
    assert http.get("/v1/health").status_code == 200
    assert wait_for(lambda: device(http)["restarts"] == 1 and device(http)["state"] == "connected")
    card_library.insert(ZHANG)
    assert http.post("/v1/devices/card-1/read").json()["kind"] == "ss_card"


def test_a_hanging_library_times_out_while_the_service_keeps_answering(counter, card_library):
    _, http = counter
    card_library.hang()
    answers = {}

    def read():
        answers["read"] = http.post("/v1/devices/card-1/read")

    reading = threading.Thread(target=read)
    reading.start()
    assert wait_for(lambda: "iReadCardBas 3" in card_library.calls())
    # while the library hangs, the rest of the service answers
    assert http.get("/v1/health").status_code == 200
    assert http.post("/v1/scans", {"raw": "86907010000000000001"}).json()["kind"] == "trace_code"
    reading.join(15)
    r = answers["read"]
    assert r.status_code == 503 and r.json()["error"]["code"] == "DEVICE_LIBRARY_FAILED"
    assert r.json()["error"]["details"]["reason"] == "hung" and "无响应" in r.json()["error"]["message_zh"]
    card_library.insert(ZHANG)
    assert wait_for(lambda: device(http)["state"] == "connected")
    assert http.post("/v1/devices/card-1/read").status_code == 200


def test_a_library_path_that_does_not_exist_is_a_device_error_and_the_service_still_starts(service_factory, tmp_path):
    _, http = service_factory(devices=[{"name": "card-1", "kind": "card_reader", "driver": "sscard_lib",
                                        "library": str(tmp_path / "SSCardDriver.dll")}])
    assert wait_for(lambda: device(http)["state"] == "error")
    shown = device(http)
    assert shown["error_code"] == "DEVICE_LIBRARY_UNAVAILABLE" and "找不到动态库" in shown["message_zh"]
    assert "device_error" in http.get("/v1/health").json()["problems"]
    r = http.post("/v1/devices/card-1/read")
    assert r.status_code == 503 and r.json()["error"]["code"] == "DEVICE_LIBRARY_UNAVAILABLE"
    assert json.loads(r.text)["error"]["details"]["reason"] == "missing"


def test_reading_a_device_that_does_not_exist_or_is_tapped_is_refused(service_factory):
    scanner = TcpScanner()
    try:
        _, http = service_factory(devices=[{"name": "scanner-1", "kind": "scanner", "url": scanner.url}])
        r = http.post("/v1/devices/scanner-1/read")
        assert r.status_code == 409 and r.json()["error"]["code"] == "DEVICE_CANNOT_READ"
        assert http.post("/v1/devices/nope/read").json()["error"]["code"] == "NOT_FOUND"
    finally:
        scanner.close()


def test_where_the_card_password_is_required_a_read_needs_the_pin_typed_on_the_reader(service_factory, card_library):
    svc, http = service_factory(server={"require_tokens": True}, devices=[
        {"name": "card-1", "kind": "card_reader", "driver": "sscard_lib", "library": str(card_library.path),
         "timeout_s": 2, "verify_pin": True, "pin_timeout_s": 2}])
    _, pos = tokens.create(svc.ledger, "POS-01", ["sales"])
    pos_auth = {"Authorization": f"Bearer {pos}"}
    assert wait_for(lambda: device(http, headers=pos_auth)["state"] == "connected")
    card_library.insert(ZHANG)
    card_library.answer(-51, "密码校验失败，剩余2次".encode("gbk"), key="pin")
    r = http.post("/v1/devices/card-1/read", headers=pos_auth)      # a sales token may read: part of a sale
    assert r.status_code == 422 and r.json()["error"]["code"] == "CARD_PIN_REJECTED"
    assert "剩余2次" in r.json()["error"]["message_zh"] and "scan_ref" not in r.text
    card_library.answer(0, b"", key="pin")
    assert http.post("/v1/devices/card-1/read", headers=pos_auth).json()["kind"] == "ss_card"
    assert http.post("/v1/devices/card-1/verify-pin", headers=pos_auth).json() == {"name": "card-1", "ok": True}
    card_library.answer(-31, "用户取消密码输入".encode("gbk"), key="pin")
    r = http.post("/v1/devices/card-1/verify-pin", headers=pos_auth)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CARD_PIN_CANCELLED"
    assert card_library.calls().count("iVerifyPIN 3") == 4
