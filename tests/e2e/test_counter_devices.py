"""Counter hardware inside the running service (docs/hardware.md): a pty scanner's scans reach `/v1/events` through the
same classifier as `POST /v1/scans`; ID scans travel as a scan_ref; the slip (text, PNG barcode, ESC/POS) prints."""
import io
import json
import queue
import threading
import time

import pytest
from PIL import Image

from hardware.simulate import PtyScanner
from tests.e2e.conftest import ZHANG, identify, new_sale


def read_events(http, into: queue.Queue, stop: threading.Event) -> None:
    with http.session.get(http.base + "/v1/events", stream=True, timeout=30) as resp:
        event = None
        for raw in resp.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if raw.startswith("event: "):
                event = raw[7:]
            elif raw.startswith("data: ") and event:
                into.put((event, json.loads(raw[6:])))


def next_event(q: queue.Queue, kind: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event, data = q.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if event == kind:
            return data
    raise AssertionError(f"no {kind} event within {timeout} s")


@pytest.fixture
def scanner():
    s = PtyScanner(framing="cr")
    yield s
    s.close()


@pytest.fixture
def counter(service_factory, scanner, tmp_path):
    printer = tmp_path / "printer.bin"
    svc, http = service_factory(devices=[
        {"name": "scanner-1", "kind": "scanner", "url": scanner.path, "framing": "cr"},
        {"name": "printer-1", "kind": "printer", "url": f"file://{printer}"}])
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=read_events, args=(http, events, stop), daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = {d["name"]: d["state"] for d in http.get("/v1/devices").json()["devices"]}
        if states.get("scanner-1") == "connected":
            break
        time.sleep(0.05)
    yield svc, http, events, printer
    stop.set()


def test_device_scans_reach_events_classified_and_id_numbers_stay_masked(counter, scanner):
    svc, http, events, _ = counter
    time.sleep(0.3)
    scanner.scan("]d286907010000000099901")
    scan = next_event(events, "scan")
    assert scan["kind"] == "trace_code" and scan["device"] == "scanner-1"
    assert scan["code"] == "86907010000000099901"
    scanner.scan(ZHANG["certno"])
    scan = next_event(events, "scan")
    assert scan["kind"] == "id_card" and ZHANG["certno"] not in json.dumps(scan)
    patient = http.post("/v1/patients/identify", {"scan_ref": scan["scan_ref"]}).json()
    assert patient["person"]["psn_name"] == "张*"


def test_a_garbled_device_scan_is_an_error_event_not_a_sale_line(counter, scanner):
    _, _, events, _ = counter
    time.sleep(0.3)
    scanner.scan("8690701000000000001")  # 19 digits: a scrambled scan
    scan = next_event(events, "scan")
    assert scan["error"]["code"] == "TRACE_CODE_INVALID"


def test_slip_text_png_barcode_and_printer_bytes(counter):
    import zxingcpp
    _, http, _, printer = counter
    ref = identify(http)["patient_ref"]
    sale = new_sale(http, ref)
    done = http.post(f"/v1/sales/{sale['id']}/settle").json()
    text = http.get(f"/v1/sales/{sale['id']}/slip.txt").text
    for label in ("统筹", "个人账户", "现金", done["setl_id"], "张*"):
        assert label in text
    assert ZHANG["certno"] not in text
    png = http.get(f"/v1/sales/{sale['id']}/slip.png")
    assert png.headers["Content-Type"] == "image/png"
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))]
    assert done["setl_id"] in decoded
    printed = http.post(f"/v1/sales/{sale['id']}/print").json()
    assert printed["ok"] is True
    data = printer.read_bytes()
    assert b"\x1dV" in data and b"\x1dk" in data


def test_slip_of_an_unsettled_sale_is_invalid_state(counter):
    _, http, _, _ = counter
    sale = new_sale(http, identify(http)["patient_ref"])
    r = http.get(f"/v1/sales/{sale['id']}/slip.txt")
    assert r.status_code == 409 and r.json()["error"]["code"] == "INVALID_STATE"
