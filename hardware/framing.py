"""Cut a serial byte stream into scan frames, and decide whether a frame is a real scan.

Scanners and card readers talk in frames: the payload followed by a terminator (`cr`, `lf`, `crlf`), wrapped
in STX/ETX (`stx_etx`), or simply followed by silence (`timeout`) — docs/hardware.md. Reads arrive split at arbitrary
points, so the framer buffers; a line that never ends (a 64 KB burst of noise) must not grow memory without
bound, so a frame longer than `max_frame` is thrown away whole (its tail too, up to the next terminator) and
counted in `dropped`.

Line framings (`cr`, `lf`, `crlf`) end a frame at CR, LF or CRLF, whichever the scanner sends (`any_line_end`,
the default): a scanner whose suffix was set to CR on a line configured for LF still delivers each scan, and
`notice` says what to fix ("scanner ends with CR; line set to LF"). A bare CR on a `crlf` line is held until the
next byte (or the idle flush) shows that no LF follows, so a CRLF split between two reads is still one
terminator. With `any_line_end=False` only the configured terminator ends a frame (for codes that hold line
breaks), and a frame that holds the other one is refused naming the terminator, not the baud rate.

Pure: no I/O, no clock. The reader decides when the line has gone idle and calls `flush()`.
"""
from __future__ import annotations

import re
import unicodedata

STX = b"\x02"
ETX = b"\x03"
KINDS = ("cr", "lf", "crlf", "stx_etx", "timeout")
_TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}
_LINE_END = {"cr": "CR", "lf": "LF", "crlf": "CRLF"}
# GS1 group separator (FNC1 in a scan) is part of the payload (docs/hardware.md); every other control character
# in a decoded frame means line noise or a wrong baud rate.
_ALLOWED_CONTROLS = {"\x1d"}
_PLAIN_ASCII = re.compile(rb"[\x20-\x7e\x1d]*")
# encodings in which those bytes mean exactly the same ASCII characters
_ASCII_COMPATIBLE = frozenset({"utf-8", "utf8", "ascii", "gb18030", "gbk", "latin-1", "iso-8859-1", "cp1252"})


class BadFrame(ValueError):
    """A complete frame that is not a usable scan (not decodable, or noise); reported, never delivered."""


class Framer:
    """Incremental splitter: `feed(bytes) -> [frame, ...]`; partial frames stay buffered until completed."""

    def __init__(self, kind: str, max_frame: int = 4096, prefix: bytes = b"", suffix: bytes = b"",
                 any_line_end: bool = True) -> None:
        if kind not in KINDS:
            raise ValueError(f"framing: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        if max_frame < 1:
            raise ValueError("max_frame: must be at least 1")
        self.kind = kind
        self.max_frame = max_frame
        self.prefix = prefix
        self.suffix = suffix
        self.dropped = 0  # frames discarded: over-long, or cut short by reset()
        self._buf = bytearray()
        self._skipping = False  # inside an over-long frame: discard until its terminator
        self._in_frame = False  # stx_etx: an STX has been seen
        self.any_line_end = any_line_end
        self.seen_line_end = ""  # the terminator the device last ended a frame with: "cr" | "lf" | "crlf"
        self._after_cr = False  # a frame just ended at CR: an LF arriving next completes a CRLF

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held in the buffer."""
        return len(self._buf)

    @property
    def notice(self) -> str | None:
        """What the device's terminator says about the configuration, when it differs from the framing."""
        if not self.seen_line_end or self.seen_line_end == self.kind or self.kind not in _LINE_END:
            return None
        return (f"scanner ends with {_LINE_END[self.seen_line_end]}; line set to {_LINE_END[self.kind]} "
                f"(set framing = \"{self.seen_line_end}\")")

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if self.kind == "stx_etx":
            return self._feed_stx_etx(data)
        if self.kind == "timeout":
            self._buf += data
            if len(self._buf) > self.max_frame:
                self._drop()
            return []
        if self.any_line_end:
            return self._feed_lines(data)
        return self._feed_terminated(data, _TERMINATORS[self.kind])

    def flush(self) -> list[bytes]:
        """The line went idle: with `timeout` framing the buffer is a frame. Other kinds keep waiting for their
        terminator — except that silence ends an over-long burst being skipped, so the next scan is not
        swallowed as its tail, and a frame ended by a bare CR on a `crlf` line is complete."""
        if self.kind != "timeout":
            if self._skipping:
                self._skipping = False
                self._buf.clear()
                return []
            if self.any_line_end and self._buf.endswith(b"\r"):
                frame = bytes(self._buf[:-1])
                self._buf.clear()
                self.seen_line_end = "cr"
                return self._finish([frame])
            return []
        if not self._buf:
            return []
        frame = bytes(self._buf)
        self._buf.clear()
        return self._finish([frame])

    def reset(self) -> None:
        """The device went away: an unfinished frame is incomplete data and must never be delivered."""
        if self._buf or self._in_frame:
            self.dropped += 1
        self._buf.clear()
        self._skipping = False
        self._in_frame = False
        self._after_cr = False

    def _keep_tail(self, size: int) -> None:
        # while skipping, keep only what could be the first half of a split two-byte terminator
        if size and self._buf.endswith(b"\r"):
            self._buf[:] = b"\r"
        else:
            self._buf.clear()

    def _ended(self, part: bytes) -> bool:
        """A terminator ended ``part``: True when it is a frame; False for the tail of an over-long frame (skipping
        stops here) and for a frame over ``max_frame`` (counted in ``dropped``)."""
        if self._skipping:
            self._skipping = False
            return False
        if len(part) > self.max_frame:
            self.dropped += 1
            return False
        return True

    def _drop(self) -> None:
        self.dropped += 1
        self._keep_tail(1 if self.kind == "crlf" else 0)
        self._skipping = self.kind != "timeout"
        self._in_frame = False

    def _feed_terminated(self, data: bytes, term: bytes) -> list[bytes]:
        self._buf += data
        if term not in self._buf:
            if self._skipping:
                self._keep_tail(len(term) - 1)
            elif len(self._buf) > self.max_frame:
                self._drop()
            return []
        parts = bytes(self._buf).split(term)
        self._buf = bytearray(parts.pop())
        frames = []
        for part in parts:
            if self._ended(part):
                frames.append(part)
        if len(self._buf) > self.max_frame:
            self._drop()
        return self._finish(frames)

    def _feed_lines(self, data: bytes) -> list[bytes]:
        """CR, LF or CRLF ends a frame, whatever the configured line framing (see the module docstring)."""
        if self._after_cr:
            self._after_cr = False
            if data[:1] == b"\n":   # the LF of a CRLF whose CR ended the previous read
                self.seen_line_end = "crlf"
                data = data[1:]
        self._buf += data
        frames: list[bytes] = []
        pos = 0
        buf = self._buf
        while True:
            cr, lf = buf.find(b"\r", pos), buf.find(b"\n", pos)
            end = min(i for i in (cr, lf) if i >= 0) if cr >= 0 or lf >= 0 else -1
            if end < 0:
                break
            if buf[end:end + 1] == b"\r":
                if end + 1 == len(buf):
                    if self.kind == "crlf":
                        break   # an LF may follow in the next read: wait for it (or the idle flush)
                    self._after_cr = True
                    step, seen = 1, "cr"
                elif buf[end + 1:end + 2] == b"\n":
                    step, seen = 2, "crlf"
                else:
                    step, seen = 1, "cr"
            else:
                step, seen = 1, "lf"
            part = bytes(buf[pos:end])
            pos = end + step
            self.seen_line_end = seen
            if self._ended(part):
                frames.append(part)
        del buf[:pos]
        if len(buf) > self.max_frame:
            if self._skipping:
                self._keep_tail(1)
            else:
                self._drop()
        return self._finish(frames)

    def _feed_stx_etx(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames = []
        while True:
            if not self._in_frame:
                start = self._buf.find(STX)
                if start < 0:
                    self._buf.clear()  # noise between frames
                    break
                del self._buf[: start + 1]
                self._in_frame = True
            end = self._buf.find(ETX)
            restart = self._buf.find(STX)
            if 0 <= restart and (end < 0 or restart < end):
                # a new STX before the ETX: the earlier frame was cut short (a reset scanner)
                self.dropped += 1
                del self._buf[: restart + 1]
                continue
            if end < 0:
                if len(self._buf) > self.max_frame:
                    self.dropped += 1
                    self._buf.clear()
                    self._in_frame = False
                break
            frame = bytes(self._buf[:end])
            del self._buf[: end + 1]
            self._in_frame = False
            if len(frame) > self.max_frame:
                self.dropped += 1
            else:
                frames.append(frame)
        return self._finish(frames)

    def _finish(self, frames: list[bytes]) -> list[bytes]:
        out = []
        for frame in frames:
            if self.kind in ("cr", "lf"):
                # a scanner set to CRLF on a `cr`/`lf` line leaves the other half at an edge
                frame = frame.strip(b"\r\n")
            if self.prefix and frame.startswith(self.prefix):
                frame = frame[len(self.prefix):]
            if self.suffix and frame.endswith(self.suffix):
                frame = frame[: -len(self.suffix)]
            if frame:
                out.append(frame)
        return out


def decode_frame(frame: bytes, encoding: str = "utf-8") -> str:
    """Bytes of one frame → the scanned text, or `BadFrame` when it cannot be a scan.

    A wrong baud rate or a noisy line produces bytes that either fail to decode or decode to control
    characters / replacement characters (mojibake); passing those on would put garbage in a sale line.
    """
    if _PLAIN_ASCII.fullmatch(frame) and encoding.lower().replace("_", "-") in _ASCII_COMPATIBLE:
        return frame.decode("ascii")  # the common case (trace codes, GTINs, GS1 strings): no per-character check
    try:
        text = frame.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise BadFrame(f"bad frame: not valid {encoding} ({len(frame)} bytes: {frame[:16].hex(' ')})") from exc
    for ch in text:
        if ch in "\r\n":
            name = "CR" if ch == "\r" else "LF"
            raise BadFrame(f"bad frame: it holds {name} inside ({len(frame)} bytes): the scanner ends its scans "
                           f"with {name}, which is not the line's framing")
        if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in _ALLOWED_CONTROLS):
            raise BadFrame(f"bad frame: control or unassigned character U+{ord(ch):04X} "
                           f"({len(frame)} bytes: {frame[:16].hex(' ')}); check the baud rate")
    return text
