"""Slip printers behind one `write(bytes)`: a file, a serial line, or a network ESC/POS printer (port 9100).

URLs: `file:///var/spool/rxlane/slips.bin` (append the raw bytes — for tests and for a spooler that picks them
up), `tcp://192.168.1.50:9100` (raw ESC/POS over TCP, what Epson/Xprinter network models speak), and any pyserial
URL (`/dev/ttyUSB0`, `/dev/usb/lp0` opened as a serial device, `socket://…`). The connection is opened per
job: a printer that was power-cycled between two sales is simply reached again (docs/hardware.md).

A printer that is off or unreachable never raises out of `write`: it returns False and reports state "error"
with a readable message, because a missing slip must never fail a settlement that already moved money.
"""
from __future__ import annotations

import errno
import os
import socket
from datetime import datetime, UTC
from urllib.parse import unquote, urlsplit

from hardware.device import DeviceConfig, DeviceError, DeviceStatus
from hardware.transport import describe_open_error, mapped_io_errors, open_serial

_CONNECT_TIMEOUT_S = 3.0


class Printer(DeviceStatus):
    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)

    def open(self) -> None:
        """Check the printer can be reached now (the manager's periodic re-probe); `DeviceError` if not."""
        self.state = "connecting"
        try:
            self._probe()
        except DeviceError as exc:
            self.state, self.last_error = exc.state, exc.message
            raise
        self._ok()

    def close(self) -> None:
        """Nothing stays open between jobs."""

    def write(self, data: bytes) -> bool:
        """Send one job. True when the bytes were handed to the printer; False (state "error") otherwise."""
        try:
            self._send(data)
        except DeviceError as exc:
            self.state, self.last_error = "error", exc.message
            return False
        except Exception as exc:  # a driver bug must not take the sale down with it
            self.state, self.last_error = "error", f"print failed: {exc}"
            return False
        self._ok()
        return True

    def _ok(self) -> None:
        self.state, self.last_error = "connected", None
        self.last_seen = datetime.now(UTC)

    # ---- transports ----

    def _scheme(self) -> str:
        return urlsplit(self.config.url).scheme if "://" in self.config.url else ""

    def _file_path(self) -> str:
        parts = urlsplit(self.config.url)
        return unquote(parts.netloc + parts.path)

    def _tcp_address(self) -> tuple[str, int]:
        parts = urlsplit(self.config.url)
        if not parts.hostname:
            raise DeviceError(f"bad printer url: {self.config.url} (expected tcp://host:9100)")
        return parts.hostname, parts.port or 9100

    def _tcp_connect(self) -> socket.socket:
        try:
            return socket.create_connection(self._tcp_address(), timeout=_CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise DeviceError(f"printer not answering: {self.config.url} (is it on and on the network?)") from None
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                raise DeviceError(f"printer refused the connection: {self.config.url} (is it on?)") from None
            raise describe_open_error(self.config.url, exc) from None

    def _probe(self) -> None:
        scheme = self._scheme()
        if scheme == "file":
            folder = os.path.dirname(self._file_path()) or "."
            if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
                raise DeviceError(f"cannot write slips to {self._file_path()}: folder missing or read-only")
        elif scheme == "tcp":
            self._tcp_connect().close()
        else:
            open_serial(self.config.url, self.config.baudrate, timeout=0.5).close()

    def _send(self, data: bytes) -> None:
        scheme = self._scheme()
        if scheme == "file":
            try:
                with open(self._file_path(), "ab") as f:
                    f.write(data)
            except OSError as exc:
                raise DeviceError(f"cannot write slips to {self._file_path()}: {exc.strerror}") from None
        elif scheme == "tcp":
            with self._tcp_connect() as sock:
                try:
                    sock.sendall(data)
                except OSError as exc:
                    raise DeviceError(f"printer connection lost: {self.config.url} ({exc})") from None
        else:
            port = open_serial(self.config.url, self.config.baudrate, timeout=0.5)
            try:
                with mapped_io_errors(self.config.url):
                    port.write(data)
                    port.flush()
            finally:
                port.close()
