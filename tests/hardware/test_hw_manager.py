"""The device manager: scans through on_scan, every state change through on_state, recovery by itself."""
import threading

import pytest

from hardware.device import DeviceConfig
from hardware.manager import DeviceManager


class Recorder:
    def __init__(self):
        self.scans, self.states, self.bad = [], [], []
        self.lock = threading.Lock()

    def on_scan(self, name, text):
        with self.lock:
            self.scans.append((name, text))

    def on_state(self, name, state, error):
        with self.lock:
            self.states.append((name, state, error))

    def on_bad_frame(self, name, message):
        self.bad.append((name, message))


@pytest.fixture
def rec():
    return Recorder()


@pytest.fixture
def manager_for(rec):
    managers = []

    def build(*configs, reprobe_s=0.2):
        manager = DeviceManager(list(configs), rec.on_scan, rec.on_state, reprobe_s=reprobe_s,
                                on_bad_frame=rec.on_bad_frame)
        managers.append(manager)
        manager.start()
        return manager

    yield build
    for manager in managers:
        manager.stop()


def scanner(url, name="scanner-1", **kw):
    return DeviceConfig(name=name, kind="scanner", url=url, **kw)


def state_of(manager, name):
    return next(s for s in manager.states() if s["name"] == name)


def test_scans_flow_to_on_scan_and_states_to_on_state(pty_scanner, manager_for, rec, wait_until):
    manager = manager_for(scanner(pty_scanner.path))
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    pty_scanner.scan("81234567890123456789")
    assert wait_until(lambda: rec.scans == [("scanner-1", "81234567890123456789")])
    assert rec.states[:2] == [("scanner-1", "connecting", None), ("scanner-1", "connected", None)]
    row = state_of(manager, "scanner-1")
    assert row["url"] == pty_scanner.path and row["kind"] == "scanner" and row["last_seen"]


def test_unplug_and_replug_at_the_same_path_recovers_by_itself(pty_scanner, manager_for, rec, wait_until):
    manager = manager_for(scanner(pty_scanner.path))
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    pty_scanner.send_raw(b"8123456")  # unplugged mid-frame
    pty_scanner.unplug()
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "error")
    assert state_of(manager, "scanner-1")["error"] == f"no such device: {pty_scanner.path}"
    assert ("scanner-1", "disconnected") in [(n, s) for n, s, _ in rec.states]
    pty_scanner.replug()
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    pty_scanner.scan("GOOD")
    assert wait_until(lambda: rec.scans == [("scanner-1", "GOOD")])  # the partial "8123456" never arrives


def test_a_scanner_plugged_in_after_start_is_found(pty_scanner, manager_for, rec, wait_until):
    pty_scanner.unplug()
    manager = manager_for(scanner(pty_scanner.path))
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "error")
    pty_scanner.replug()
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    pty_scanner.scan("LATE")
    assert wait_until(lambda: rec.scans == [("scanner-1", "LATE")])


def test_bad_frames_are_reported_and_never_reach_on_scan(pty_scanner, manager_for, rec, wait_until):
    manager = manager_for(scanner(pty_scanner.path))
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    pty_scanner.send_raw(b"\xff\xfe\x00\x81\r")
    pty_scanner.scan("GOOD")
    assert wait_until(lambda: rec.scans == [("scanner-1", "GOOD")])
    row = state_of(manager, "scanner-1")
    assert row["bad_frames"] == 1 and row["last_bad_frame"].startswith("bad frame")
    assert row["state"] == "connected"
    assert len(rec.bad) == 1


def test_two_scanners_each_deliver_under_their_own_name(pty_scanner, tcp_scanner, manager_for, rec, wait_until):
    manager = manager_for(scanner(pty_scanner.path, name="a"), scanner(tcp_scanner.url, name="b"))
    assert wait_until(lambda: all(s["state"] == "connected" for s in manager.states()))
    pty_scanner.scan("FROM-A")
    tcp_scanner.scan("FROM-B")
    assert wait_until(lambda: sorted(rec.scans) == [("a", "FROM-A"), ("b", "FROM-B")])


def test_test_waits_for_one_scan_and_returns_it(pty_scanner, manager_for, rec, wait_until):
    manager = manager_for(scanner(pty_scanner.path))
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    timer = threading.Timer(0.2, pty_scanner.scan, args=("TEST-SCAN",))
    timer.start()
    result = manager.test("scanner-1", timeout_s=3)
    timer.join()
    assert result == {"name": "scanner-1", "kind": "scanner", "ok": True, "scan": "TEST-SCAN"}
    assert rec.scans == []  # a test scan is not a sale scan


def test_test_without_a_scan_says_so(pty_scanner, manager_for):
    manager = manager_for(scanner(pty_scanner.path))
    result = manager.test("scanner-1", timeout_s=0.2)
    assert result["ok"] is False and "nothing read" in result["error"]


def test_printing_to_a_file_printer_appends_the_job(tmp_path, manager_for):
    target = tmp_path / "slips.bin"
    manager = manager_for(DeviceConfig(name="p1", kind="printer", url=f"file://{target}"))
    assert manager.print(None, b"JOB1") == {"name": "p1", "kind": "printer", "ok": True, "error": None}
    manager.print("p1", b"JOB2")
    assert target.read_bytes() == b"JOB1JOB2"


def test_test_prints_a_test_slip_with_a_cut(tmp_path, manager_for):
    target = tmp_path / "slips.bin"
    manager = manager_for(DeviceConfig(name="p1", kind="printer", url=f"file://{target}"))
    assert manager.test("p1")["ok"] is True
    assert b"\x1dV" in target.read_bytes()


def test_a_printer_that_is_off_is_state_error_and_nothing_raises(tcp_printer, manager_for, rec, wait_until):
    url = tcp_printer.url
    tcp_printer.unplug()  # the printer is switched off: connection refused
    manager = manager_for(DeviceConfig(name="p1", kind="printer", url=url))
    result = manager.print(None, b"JOB")
    assert result["ok"] is False and "refused" in result["error"]
    assert state_of(manager, "p1")["state"] == "error"
    tcp_printer.replug()  # switched on again: the periodic probe finds it
    assert wait_until(lambda: state_of(manager, "p1")["state"] == "connected")
    assert manager.print("p1", b"JOB")["ok"] is True
    assert tcp_printer.wait_for(b"JOB")


def test_print_without_any_printer_returns_an_error():
    manager = DeviceManager([], lambda *a: None, lambda *a: None)
    assert manager.print(None, b"x") == {"name": None, "ok": False, "error": "no printer configured"}


def test_stop_closes_the_port_and_ends_the_threads(pty_scanner, manager_for, rec, wait_until):
    manager = manager_for(scanner(pty_scanner.path))
    assert wait_until(lambda: state_of(manager, "scanner-1")["state"] == "connected")
    manager.stop()
    assert not any(t.name.startswith("rxlane-device") for t in threading.enumerate())
    assert rec.states[-1] == ("scanner-1", "disconnected", None)


def test_duplicate_device_names_are_refused():
    with pytest.raises(ValueError, match="twice"):
        DeviceManager([scanner("loop://"), scanner("loop://")], lambda *a: None, lambda *a: None)
