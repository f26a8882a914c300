"""Pretend devices, so tests and demos drive the real serial code (docs/hardware.md, docs/developing.md "pyserial").

- `PtyScanner` (POSIX only; it imports `tty` when it opens): a pseudo-terminal pair. The driver opens `.path` — a
  symlink in a temp folder pointing at the current slave tty — exactly as it would open
  `/dev/serial/by-id/usb-Honeywell…`. `unplug()` closes the master (the reader gets EIO, like a USB CDC device yanked
  out) and removes the link (like udev); `replug()` opens a new pty and points the same link at it, so the configured
  URL stays the same.
- `TcpScanner`: a network scanner on 127.0.0.1 for `socket://` URLs.
- `TcpPrinterSink`: a raw-TCP "printer" on 127.0.0.1 that records every byte it receives (`tcp://` URLs).
- `run_simulated_scanner(...)` / `main(argv)`: `rxlane simulate scanner --scan CODE … --interval S`.
"""
from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from hardware.framing import ETX, KINDS, STX


def frame_bytes(text: str | bytes, framing: str = "cr", encoding: str = "utf-8") -> bytes:
    """`text` as a device in `framing` sends it."""
    payload = text.encode(encoding) if isinstance(text, str) else text
    if framing == "cr":
        return payload + b"\r"
    if framing == "lf":
        return payload + b"\n"
    if framing == "crlf":
        return payload + b"\r\n"
    if framing == "stx_etx":
        return STX + payload + ETX
    if framing == "timeout":
        return payload
    raise ValueError(f"framing: unknown kind {framing!r}; expected one of {', '.join(KINDS)}")


class PtyScanner:
    def __init__(self, framing: str = "cr") -> None:
        self.framing = framing
        self._dir = tempfile.mkdtemp(prefix="rxlane-pty-")
        self.path = os.path.join(self._dir, "scanner")
        self._master: int | None = None
        self._slave: int | None = None
        self.tty_path = ""
        self._plug()

    def _plug(self) -> None:
        import tty   # POSIX only: the pty simulators are Linux/macOS test tools; the TCP ones work everywhere
        master, slave = os.openpty()
        # raw before anyone opens it: no echo back into the master, no CR→LF translation of our frames
        tty.setraw(slave)
        self._master, self._slave = master, slave
        self.tty_path = os.ttyname(slave)
        staging = self.path + ".new"
        if os.path.lexists(staging):
            os.unlink(staging)
        os.symlink(self.tty_path, staging)
        os.replace(staging, self.path)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def send_raw(self, data: bytes) -> None:
        if self._master is None:
            raise OSError("simulated scanner is unplugged")
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]

    def scan(self, text: str | bytes, framing: str | None = None) -> None:
        self.send_raw(frame_bytes(text, framing or self.framing))

    def read_from_host(self, size: int, timeout: float = 2.0) -> bytes:
        """What the host wrote to the device (a serial printer's job), up to `size` bytes or `timeout`."""
        got = bytearray()
        deadline = time.monotonic() + timeout
        while len(got) < size and self._master is not None:
            ready, _, _ = select.select([self._master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                got += os.read(self._master, size - len(got))
            except OSError:
                break
        return bytes(got)

    def unplug(self) -> None:
        if os.path.lexists(self.path):
            os.unlink(self.path)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def replug(self) -> None:
        if self._master is not None:
            self.unplug()
        self._plug()

    def close(self) -> None:
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PtyScanner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _TcpServer:
    """A one-client-at-a-time TCP server on 127.0.0.1 that can be switched off and on at the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(4)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed: unplugged or closed
            with self._lock:
                old, self._conn = self._conn, conn
                self._connected.set()
            if old is not None:
                old.close()
            self._on_connection(conn)

    def _on_connection(self, conn: socket.socket) -> None:
        """Subclasses: a client connected."""

    def wait_connected(self, timeout: float = 5.0) -> bool:
        return self._connected.wait(timeout)

    def unplug(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            listener, self._listener = self._listener, None
            self._connected.clear()
        for sock in (conn, listener):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def replug(self) -> None:
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.unplug()


class TcpScanner(_TcpServer):
    """A network scanner: the driver connects to `url` (`socket://127.0.0.1:PORT`) and we push frames."""

    def __init__(self, framing: str = "cr") -> None:
        self.framing = framing
        super().__init__()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def send_raw(self, data: bytes, timeout: float = 5.0) -> None:
        if not self.wait_connected(timeout):
            raise TimeoutError("no client connected to the simulated network scanner")
        with self._lock:
            conn = self._conn
        if conn is None:
            raise OSError("simulated network scanner is unplugged")
        conn.sendall(data)

    def scan(self, text: str | bytes, framing: str | None = None) -> None:
        self.send_raw(frame_bytes(text, framing or self.framing))


class TcpPrinterSink(_TcpServer):
    """A network ESC/POS printer on 127.0.0.1 that keeps everything it was sent in `.received`."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._got = threading.Condition()
        super().__init__()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _on_connection(self, conn: socket.socket) -> None:
        threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self._got:
                self.received += chunk
                self._got.notify_all()

    def wait_for(self, needle: bytes, timeout: float = 5.0) -> bool:
        with self._got:
            return self._got.wait_for(lambda: needle in self.received, timeout)


def run_simulated_scanner(scans: list[str], framing: str = "cr", interval: float = 1.0,
                          echo: Callable[[str], None] = print, stop: threading.Event | None = None,
                          stdin=None) -> int:
    """Open a pty scanner, print its path, send `scans` every `interval` seconds, then stay until Ctrl-C.

    With no `scans`, each line typed on stdin is sent as one scan (a demo at the counter page).
    Point a device at the printed path (`url = "/dev/pts/N"`); a pty only delivers what was sent after the
    driver opened it, so start rxlane first or wait for the first interval.
    """
    stop = stop or threading.Event()
    scanner = PtyScanner(framing=framing)
    echo(f"scanner pty: {scanner.tty_path}")
    echo(f"stable link: {scanner.path}")
    try:
        for text in scans:
            if stop.wait(interval):
                return 0
            scanner.scan(text)
            echo(f"sent: {text}")
        if not scans and stdin is not None:
            for line in stdin:
                if stop.is_set():
                    break
                if line.strip():
                    scanner.scan(line.strip())
                    echo(f"sent: {line.strip()}")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        scanner.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rxlane simulate", description="pretend hardware for demos and tests")
    sub = parser.add_subparsers(dest="device", required=True)
    scanner = sub.add_parser("scanner", help="a serial scanner on a pseudo-terminal")
    scanner.add_argument("--scan", action="append", default=[], metavar="TEXT", help="a code to send (repeat)")
    scanner.add_argument("--interval", type=float, default=1.0, help="seconds before each scan")
    scanner.add_argument("--framing", choices=KINDS, default="cr")
    args = parser.parse_args(argv)

    def interrupted(signum, frame):  # a service manager's SIGTERM cleans up like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    return run_simulated_scanner(args.scan, args.framing, args.interval,
                                 stdin=None if args.scan else sys.stdin)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
