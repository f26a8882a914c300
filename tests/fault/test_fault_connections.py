"""Connections a counter PC meets (docs/reliability.md, "Connections"; plugin/httpserver.py): many open counter
pages (event streams), idle keep-alive connections of POS terminals, clients that stall mid-request. The API must
keep answering — a whole sale goes through — while they are held. rxlane runs as `rxlane serve` (waitress), as in
a store. The figures at full size are in bench/README.md (bench/bench_connections.py)."""
from __future__ import annotations

import socket
import time
from contextlib import ExitStack

from tests.fault.event_streams import address_of, open_event_stream
from tests.fault.rig import Counter, new_pharmacy


def _a_sale_goes_through(rx, sandbox) -> None:
    sale_id = Counter(rx, sandbox).ring_up()
    r = rx.http.post(f"/v1/sales/{sale_id}/settle")
    assert r.status_code == 200, r.text


def test_two_hundred_open_event_streams_leave_the_api_answering(launcher, shared_sandbox, tmp_path):
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, new_pharmacy())
    address = address_of(rx.url)
    with ExitStack() as held:
        for n in range(220):
            s, head = open_event_stream(address)
            held.callback(s.close)
            assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, (n, head[:200])
        assert rx.http.get("/v1/health").status_code == 200
        _a_sale_goes_through(rx, shared_sandbox)


def test_event_streams_over_the_cap_are_refused_at_once_and_the_api_still_answers(launcher, shared_sandbox,
                                                                                  tmp_path):
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, new_pharmacy(),
                         env={"RXLANE_SERVER__EVENT_STREAMS_MAX": "8"})
    address = address_of(rx.url)
    with ExitStack() as held:
        for _ in range(8):
            s, head = open_event_stream(address)
            held.callback(s.close)
            assert head.startswith(b"HTTP/1.1 200")
        over = rx.http.get("/v1/events", stream=True)
        assert over.status_code == 503 and over.json()["error"]["code"] == "EVENTS_BUSY"
        assert over.headers["Retry-After"]
        _a_sale_goes_through(rx, shared_sandbox)
    deadline = time.monotonic() + 20                  # closed streams give their slots back
    while time.monotonic() < deadline:
        r = rx.http.get("/v1/events", stream=True)
        status = r.status_code
        r.close()
        if status == 200:
            break
        time.sleep(0.3)
    assert status == 200


def test_three_hundred_idle_connections_do_not_stop_the_service_accepting(launcher, shared_sandbox, tmp_path):
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, new_pharmacy())
    address = address_of(rx.url)
    with ExitStack() as held:
        for _ in range(300):
            s = socket.create_connection(address, timeout=10)
            held.callback(s.close)
        assert rx.http.get("/v1/health").status_code == 200
        _a_sale_goes_through(rx, shared_sandbox)


def test_idle_and_stalled_connections_are_closed_by_the_service(launcher, shared_sandbox, tmp_path):
    rx = launcher.rxlane(tmp_path / "data", shared_sandbox, new_pharmacy(),
                         env={"RXLANE_SERVER__IDLE_TIMEOUT_S": "1", "RXLANE_SERVER__REQUEST_TIMEOUT_S": "1"})
    address = address_of(rx.url)
    idle = socket.create_connection(address, timeout=30)
    stalled = socket.create_connection(address, timeout=30)
    stalled.sendall(b"POST /v1/scans HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"raw\"")
    for s in (idle, stalled):
        try:
            assert s.recv(1) == b"", "the service kept a silent connection open"
        finally:
            s.close()
