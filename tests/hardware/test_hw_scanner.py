"""The real serial scanner driver over a pseudo-terminal and over socket:// (docs/hardware.md)."""
import threading

import pytest

from hardware.device import DeviceConfig, DeviceError
from hardware.framing import BadFrame
from hardware.scanner import SerialScanner


def scanner_at(url, **kw):
    driver = SerialScanner(DeviceConfig(name="s1", kind="scanner", url=url, **kw))
    driver.open()
    return driver


def read_all(driver, n, timeout=2.0):
    got = []
    for _ in range(n):
        text = driver.read_frame(timeout)
        assert text is not None, f"only {got} arrived"
        got.append(text)
    return got


@pytest.mark.parametrize("framing", ["cr", "lf", "crlf", "stx_etx"])
def test_scans_arrive_over_a_pty_in_each_framing(pty_scanner, framing):
    driver = scanner_at(pty_scanner.path, framing=framing)
    try:
        assert driver.state == "connected"
        pty_scanner.scan("81234567890123456789", framing=framing)
        pty_scanner.scan("6901234567892", framing=framing)
        assert read_all(driver, 2) == ["81234567890123456789", "6901234567892"]
    finally:
        driver.close()


def test_timeout_framing_ends_a_scan_after_silence(pty_scanner):
    driver = scanner_at(pty_scanner.path, framing="timeout", frame_gap_s=0.05)
    try:
        pty_scanner.send_raw(b"6901234567892")
        assert driver.read_frame(2.0) == "6901234567892"
    finally:
        driver.close()


def test_a_frame_written_in_pieces_arrives_whole(pty_scanner):
    driver = scanner_at(pty_scanner.path)
    try:
        for piece in (b"8123", b"45678901", b"23456789", b"\r"):
            pty_scanner.send_raw(piece)
            if piece != b"\r":
                assert driver.read_frame(0.05) is None
        assert driver.read_frame(2.0) == "81234567890123456789"
    finally:
        driver.close()


def test_a_quiet_line_returns_none(pty_scanner):
    driver = scanner_at(pty_scanner.path)
    try:
        assert driver.read_frame(0.1) is None
    finally:
        driver.close()


def test_non_utf8_bytes_are_a_bad_frame_not_a_scan(pty_scanner):
    driver = scanner_at(pty_scanner.path)
    try:
        pty_scanner.send_raw(b"\xff\xfe\x81\x00\r")
        pty_scanner.scan("GOOD")
        with pytest.raises(BadFrame):
            driver.read_frame(2.0)
        assert driver.read_frame(2.0) == "GOOD"
        assert driver.bad_frames == 1 and "bad frame" in driver.last_error
    finally:
        driver.close()


def test_wrong_baud_mojibake_is_a_bad_frame(pty_scanner):
    driver = scanner_at(pty_scanner.path)
    try:
        # what "6901234567892" at 115200 looks like read at 9600: NULs, 0x80/0xF8 bytes, and control codes
        pty_scanner.send_raw(b"\x00\x80\xf8\x00\x06\x18x\x80\r")
        with pytest.raises(BadFrame):
            driver.read_frame(2.0)
    finally:
        driver.close()


def test_garbage_and_a_64kb_line_are_dropped_and_scanning_continues(pty_scanner):
    driver = scanner_at(pty_scanner.path)
    try:
        # a real line does not wait for the reader: push the 64 KB from another thread while we read
        writer = threading.Thread(target=pty_scanner.send_raw, args=(b"Z" * 65536,))
        writer.start()
        while writer.is_alive():
            assert driver.read_frame(0.05) is None
        writer.join()
        assert driver.read_frame(0.2) is None
        pty_scanner.scan("GOOD")
        assert driver.read_frame(2.0) == "GOOD"
        assert driver.dropped == 1
    finally:
        driver.close()


def test_a_missing_device_path_is_state_error_no_such_device(tmp_path):
    driver = SerialScanner(DeviceConfig(name="s1", kind="scanner", url=str(tmp_path / "ttyACM9")))
    with pytest.raises(DeviceError):
        driver.open()
    assert driver.state == "error"
    assert driver.last_error == f"no such device: {tmp_path / 'ttyACM9'}"


def test_unplug_mid_frame_disconnects_and_the_partial_frame_is_never_delivered(pty_scanner):
    driver = scanner_at(pty_scanner.path)
    try:
        pty_scanner.send_raw(b"81234567")
        assert driver.read_frame(0.1) is None
        pty_scanner.unplug()
        with pytest.raises(DeviceError) as err:
            driver.read_frame(2.0)
        assert err.value.state == "disconnected" and driver.state == "disconnected"
        driver.close()
        pty_scanner.replug()
        driver.open()
        pty_scanner.scan("GOOD")
        assert driver.read_frame(2.0) == "GOOD"  # not "81234567GOOD"
    finally:
        driver.close()


def test_scans_arrive_over_socket_url(tcp_scanner):
    driver = scanner_at(tcp_scanner.url, framing="crlf")
    try:
        tcp_scanner.scan("81234567890123456789", framing="crlf")
        tcp_scanner.send_raw(b"69012345")
        tcp_scanner.send_raw(b"67892\r\n")
        assert read_all(driver, 2) == ["81234567890123456789", "6901234567892"]
    finally:
        driver.close()


def test_a_network_scanner_that_goes_away_is_reported_disconnected(tcp_scanner):
    driver = scanner_at(tcp_scanner.url)
    try:
        assert tcp_scanner.wait_connected()
        tcp_scanner.unplug()
        with pytest.raises(DeviceError) as err:
            driver.read_frame(2.0)
        assert err.value.state == "disconnected"
    finally:
        driver.close()


def test_a_refused_socket_url_is_a_readable_error(tcp_scanner):
    url = tcp_scanner.url
    tcp_scanner.unplug()
    driver = SerialScanner(DeviceConfig(name="s1", kind="scanner", url=url))
    with pytest.raises(DeviceError):
        driver.open()
    assert driver.state == "error" and driver.last_error.startswith("connection refused")


def test_loop_url_echoes_what_is_written():
    driver = scanner_at("loop://")
    try:
        driver._port.write(b"ABC\r")
        assert driver.read_frame(1.0) == "ABC"
    finally:
        driver.close()
