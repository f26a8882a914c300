"""A barcode scanner on a serial line (USB CDC, RS-232, a network scanner, a pty in tests) — docs/hardware.md.

The driver reads whatever bytes are available, cuts them into frames with the model's framing, and decodes
each frame with the model's encoding. A frame that does not decode cleanly (wrong baud rate, line noise) is a
`BadFrame`, never a scan: a garbled traceability code must not reach a sale. Keyboard-wedge scanners need no
driver at all — their keystrokes go to the counter page or the POS.
"""
from __future__ import annotations

import collections
import time
from datetime import datetime, UTC

import serial

from hardware.device import DeviceConfig, DeviceError, DeviceStatus
from hardware.framing import BadFrame, Framer, decode_frame
from hardware.transport import mapped_io_errors, open_serial

# how long one blocking read waits; bounds how late `timeout` framing notices silence and how fast stop() is
_POLL_S = 0.05


class SerialScanner(DeviceStatus):
    """`open()` → `read_frame(timeout)` (text, None on a quiet line, `BadFrame`, `DeviceError`) → `close()`."""

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.bad_frames = 0
        self._port: serial.SerialBase | None = None
        self._ready: collections.deque[bytes] = collections.deque()
        self._last_data = 0.0
        self._framer = self._new_framer()

    def _new_framer(self) -> Framer:
        enc = self.config.encoding
        return Framer(self.config.framing, max_frame=self.config.max_frame,
                      prefix=self.config.prefix.encode(enc), suffix=self.config.suffix.encode(enc),
                      any_line_end=self.config.any_line_end)

    @property
    def notice(self) -> str | None:
        """A configuration the device's own frames contradict, e.g. "scanner ends with CR; line set to LF"."""
        return self._framer.notice

    @property
    def dropped(self) -> int:
        """Frames thrown away unfinished: over-long, or cut off by an unplug."""
        return self._framer.dropped

    def open(self) -> None:
        self.close()
        self.state = "connecting"
        try:
            self._port = open_serial(self.config.url, self.config.baudrate,
                                     timeout=min(_POLL_S, self.config.frame_gap_s))
        except DeviceError as exc:
            self._fail(exc)
            raise
        self.state, self.last_error = "connected", None

    def close(self) -> None:
        port, self._port = self._port, None
        self._framer.reset()  # a frame cut off by the unplug is incomplete: never deliver it
        self._ready.clear()
        if port is not None:
            try:
                port.close()
            except Exception:  # closing a vanished device may fail; it is closed either way
                pass
        if self.state != "error":
            self.state = "disconnected"

    def read_frame(self, timeout: float) -> str | None:
        """The next scan, or None when nothing complete arrived within `timeout` seconds."""
        if self._ready:
            return self._deliver(self._ready.popleft())
        deadline = time.monotonic() + timeout
        while True:
            if self._ready:
                return self._deliver(self._ready.popleft())
            if self._port is None:
                raise DeviceError(f"not open: {self.config.url}", state="disconnected")
            data = self._read_available()
            if data:
                self.last_seen = datetime.now(UTC)
                self._last_data = time.monotonic()
                self._ready.extend(self._framer.feed(data))
            elif time.monotonic() - self._last_data >= self.config.frame_gap_s:
                self._ready.extend(self._framer.flush())  # silence ends a `timeout` frame / a skipped burst
            if not self._ready and time.monotonic() >= deadline:
                return None

    def _read_available(self) -> bytes:
        port = self._port
        if port is None:          # closed by another thread between the poll and the read
            return b""
        try:
            with mapped_io_errors(self.config.url):
                first = port.read(1)  # blocks up to the poll interval
                if not first:
                    return b""
                waiting = port.in_waiting  # type: ignore[attr-defined]  # every pyserial port class has it
                return first + port.read(waiting) if waiting else first
        except DeviceError as exc:
            self._fail(exc)
            raise

    def _deliver(self, frame: bytes) -> str:
        try:
            return self.parse(decode_frame(frame, self.config.encoding))
        except BadFrame as exc:
            self.bad_frames += 1
            self.last_error = str(exc)
            raise

    def parse(self, text: str) -> str:
        """What a frame's text means for this kind of device; a scanner passes it on unchanged."""
        return text

    def _fail(self, exc: DeviceError) -> None:
        self.state, self.last_error = exc.state, exc.message
