"""Serial scanners that end their scans with another terminator than the line is set to (issue 19): every scan
still arrives, one by one, and the device panel says what to set — never "bad frame … check the baud rate"."""
import pytest
from hypothesis import given, settings, strategies as st

from hardware.device import DeviceConfig
from hardware.framing import BadFrame, Framer, decode_frame
from hardware.manager import DeviceManager
from hardware.scanner import SerialScanner

SCANS = ["81234567890123456789", "86907010000000000017", "6901234567892"]
ENDS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}


@pytest.mark.parametrize("line, sent", [(line, sent) for line in ENDS for sent in ENDS])
def test_cr_lf_and_crlf_each_end_a_scan_on_every_line_framing(line, sent):
    framer = Framer(line)
    stream = b"".join(s.encode() + ENDS[sent] for s in SCANS)
    got = framer.feed(stream) + framer.flush()
    assert got == [s.encode() for s in SCANS]
    assert framer.dropped == 0
    if line == sent:
        assert framer.notice is None
    else:
        assert framer.notice == (f"scanner ends with {sent.upper()}; line set to {line.upper()} "
                                 f"(set framing = \"{sent}\")")


def test_the_issues_example_cr_scanner_on_an_lf_line_delivers_three_scans_not_one_bad_frame():
    framer = Framer("lf")
    got = []
    for s in SCANS:
        got += framer.feed(s.encode() + b"\r")      # each arrives as the scanner sends it, one read per scan
        assert got[-1] == s.encode()                # delivered at once, not held for an LF that never comes
    assert framer.notice == 'scanner ends with CR; line set to LF (set framing = "cr")'


def test_a_bare_cr_on_a_crlf_line_waits_for_the_next_byte_or_the_idle_gap():
    framer = Framer("crlf")
    assert framer.feed(b"ABC\r") == []              # an LF may still come in the next read …
    assert framer.flush() == [b"ABC"]               # … the line went idle: it was a bare CR
    assert framer.feed(b"DEF\rGHI\r") == [b"DEF"]   # a non-LF byte after the CR ends the frame at once
    assert framer.flush() == [b"GHI"]
    assert framer.notice == 'scanner ends with CR; line set to CRLF (set framing = "cr")'


def test_a_crlf_split_between_two_reads_is_one_terminator_on_a_cr_line():
    framer = Framer("cr")
    assert framer.feed(b"ABC\r") == [b"ABC"]
    assert framer.feed(b"\nDEF\r") == [b"DEF"]          # the LF is the rest of a CRLF, not an empty scan
    framer = Framer("cr")
    framer.feed(b"ABC\r")
    framer.feed(b"\n")
    assert framer.seen_line_end == "crlf"
    assert framer.notice == 'scanner ends with CRLF; line set to CR (set framing = "crlf")'


@settings(max_examples=150, deadline=None)
@given(codes=st.lists(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ\x1d]", min_size=1, max_size=30),
                      min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10),
       line=st.sampled_from(["cr", "lf", "crlf"]), sent=st.sampled_from(["cr", "lf", "crlf"]))
def test_read_boundaries_never_change_the_frames_whatever_the_terminator(codes, cuts, line, sent):
    stream = b"".join(c.encode() + ENDS[sent] for c in codes)
    framer = Framer(line)
    got, start = [], 0
    for cut in sorted(set(min(c, len(stream)) for c in cuts)) + [len(stream)]:
        got += framer.feed(stream[start:cut])
        start = cut
    got += framer.flush()
    assert got == [c.encode() for c in codes]


def test_a_strict_line_refuses_a_frame_holding_the_other_terminator_naming_it():
    framer = Framer("lf", any_line_end=False)
    frames = framer.feed(b"".join(s.encode() + b"\r" for s in SCANS) + b"\n")
    assert len(frames) == 1
    with pytest.raises(BadFrame) as caught:
        decode_frame(frames[0])
    assert "holds CR inside" in str(caught.value) and "baud" not in str(caught.value)


def test_the_driver_reports_the_terminator_its_scanner_really_sends(pty_scanner):
    driver = SerialScanner(DeviceConfig(name="s1", kind="scanner", url=pty_scanner.path, framing="lf"))
    driver.open()
    try:
        for s in SCANS:
            pty_scanner.scan(s, framing="cr")
        assert [driver.read_frame(2.0) for _ in SCANS] == SCANS
        assert driver.notice == 'scanner ends with CR; line set to LF (set framing = "cr")'
    finally:
        driver.close()


def test_the_device_panel_shows_the_mismatch_while_scans_keep_arriving(pty_scanner, wait_until):
    scans, states = [], []
    manager = DeviceManager([DeviceConfig(name="s1", kind="scanner", url=pty_scanner.path, framing="lf")],
                            on_scan=lambda name, text: scans.append(text),
                            on_state=lambda name, state, error: states.append((state, error)))
    manager.start()
    try:
        assert wait_until(lambda: ("connected", None) in states)
        for s in SCANS:
            pty_scanner.scan(s, framing="cr")
        assert wait_until(lambda: len(scans) == 3)
        assert scans == SCANS
        assert wait_until(lambda: manager.states()[0]["error"] is not None)
        device = manager.states()[0]
        assert device["state"] == "connected" and device["bad_frames"] == 0
        assert device["error"] == 'scanner ends with CR; line set to LF (set framing = "cr")'
    finally:
        manager.stop()


def test_strict_framing_is_a_device_setting():
    assert DeviceConfig.from_mapping({"name": "s", "kind": "scanner", "url": "loop://",
                                      "any_line_end": False}).any_line_end is False
    with pytest.raises(ValueError, match="any_line_end"):
        DeviceConfig.from_mapping({"name": "s", "kind": "scanner", "url": "loop://", "any_line_end": "yes"})
