"""The framer cuts a serial stream into scans exactly as each model frames them (docs/hardware.md), whatever the read
boundaries, and never lets noise or an endless line through."""
import pytest
from hypothesis import given, settings, strategies as st

from hardware.framing import BadFrame, Framer, decode_frame
from hardware.simulate import frame_bytes

CODES = ["81234567890123456789", "]d2010690123456789017211234567890\x1d10ABC", "6901234567892"]


@pytest.mark.parametrize("kind", ["cr", "lf", "crlf", "stx_etx"])
def test_each_terminated_framing_yields_one_frame_per_code(kind):
    framer = Framer(kind)
    stream = b"".join(frame_bytes(code, kind) for code in CODES)
    assert framer.feed(stream) == [c.encode() for c in CODES]
    assert framer.pending == 0 and framer.dropped == 0


@pytest.mark.parametrize("kind", ["cr", "lf", "crlf", "stx_etx"])
def test_a_frame_split_across_reads_is_delivered_once_complete(kind):
    framer = Framer(kind)
    data = frame_bytes(CODES[0], kind)
    got = []
    for i in range(len(data)):
        got += framer.feed(data[i:i + 1])
        if i < len(data) - 1:
            assert got == []
    assert got == [CODES[0].encode()]


def test_crlf_terminator_split_between_reads_still_ends_the_frame():
    framer = Framer("crlf")
    assert framer.feed(b"ABC\r") == []
    assert framer.feed(b"\nDEF\r\n") == [b"ABC", b"DEF"]


def test_timeout_framing_returns_the_buffer_only_on_flush():
    framer = Framer("timeout")
    assert framer.feed(b"6901234") == [] and framer.feed(b"567892") == []
    assert framer.flush() == [b"6901234567892"]
    assert framer.flush() == []


def test_a_frame_without_terminator_is_never_delivered():
    framer = Framer("cr")
    assert framer.feed(b"81234567890123456789") == []
    assert framer.flush() == []  # idle gaps end only `timeout` frames


def test_a_64kb_line_without_terminator_is_dropped_and_the_next_scan_gets_through():
    framer = Framer("cr", max_frame=4096)
    junk = b"X" * 65536
    out = []
    for i in range(0, len(junk), 1000):
        out += framer.feed(junk[i:i + 1000])
        assert framer.pending <= 4096 + 1000  # memory stays bounded while the line never ends
    out += framer.feed(b"TAIL\rGOOD\r")
    assert out == [b"GOOD"]  # neither the 64 KB line nor its tail "…XTAIL"
    assert framer.dropped == 1


def test_silence_after_an_endless_line_lets_the_next_scan_through():
    framer = Framer("cr", max_frame=4096)
    framer.feed(b"X" * 65536)
    framer.flush()  # the reader saw an idle gap
    assert framer.feed(b"GOOD\r") == [b"GOOD"]
    assert framer.dropped == 1


def test_an_over_long_stx_etx_packet_is_dropped():
    framer = Framer("stx_etx", max_frame=16)
    assert framer.feed(b"\x02" + b"Y" * 40) == []
    assert framer.feed(b"\x03\x02OK\x03") == [b"OK"]
    assert framer.dropped == 1


def test_stx_etx_discards_noise_between_packets_and_restarts_on_a_new_stx():
    framer = Framer("stx_etx")
    assert framer.feed(b"\xff\x00noise\x02CUT-SHORT\x02ABC\x03garbage\x02DEF\x03") == [b"ABC", b"DEF"]
    assert framer.dropped == 1


def test_prefix_and_suffix_are_stripped():
    framer = Framer("cr", prefix=b"]C1", suffix=b"#")
    assert framer.feed(b"]C1ABC#\rXYZ\r") == [b"ABC", b"XYZ"]


def test_cr_framing_tolerates_a_scanner_sending_crlf():
    assert Framer("cr").feed(b"ABC\r\nDEF\r\n") == [b"ABC", b"DEF"]


def test_reset_discards_a_partial_frame_so_it_never_joins_the_next_scan():
    framer = Framer("cr")
    framer.feed(b"PARTIAL")
    framer.reset()
    assert framer.feed(b"GOOD\r") == [b"GOOD"]
    assert framer.dropped == 1


def test_unknown_framing_is_refused():
    with pytest.raises(ValueError, match="framing"):
        Framer("etx")


@settings(max_examples=200, deadline=None)
@given(codes=st.lists(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ\x1d]", min_size=1, max_size=40),
                      max_size=8),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
       kind=st.sampled_from(["cr", "lf", "crlf", "stx_etx"]))
def test_read_boundaries_never_change_the_frames(codes, cuts, kind):
    stream = b"".join(frame_bytes(c, kind) for c in codes)
    framer = Framer(kind)
    got, start = [], 0
    for cut in sorted(set(min(c, len(stream)) for c in cuts)) + [len(stream)]:
        got += framer.feed(stream[start:cut])
        start = cut
    assert got == [c.encode() for c in codes]


def test_decode_passes_gs1_group_separators():
    assert decode_frame(b"]d201069012345678901721123\x1d10AB") == "]d201069012345678901721123\x1d10AB"


def test_decode_reports_non_utf8_as_a_bad_frame():
    with pytest.raises(BadFrame, match="not valid utf-8"):
        decode_frame(b"\xff\xfe\x81ABC")


def test_decode_reports_wrong_baud_mojibake_as_a_bad_frame():
    # 115200 baud data read at 9600 (and vice versa) decodes to control characters, NULs and C1 codes
    with pytest.raises(BadFrame, match="baud"):
        decode_frame("\x00\x18x\x06\x80".encode())


def test_decode_with_the_models_encoding():
    assert decode_frame("追溯码".encode("gb18030"), "gb18030") == "追溯码"


@pytest.mark.parametrize("frame", [b"\x01ABC", b"AB\x7fC", b"\x00", b"ABC\x1b[2J"])
def test_decode_refuses_ascii_control_characters_other_than_gs(frame):
    with pytest.raises(BadFrame):
        decode_frame(frame)
