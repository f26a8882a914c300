"""Open a pyserial URL and turn every low-level failure into one readable `DeviceError`.

One place maps `serial.SerialException` / `OSError` to the words the device panel shows ("no such device",
"permission denied", "device disconnected"), the way httpx's `map_exceptions()` does (docs/developing.md), instead of
try/except scattered through each driver. Any pyserial URL works: `/dev/ttyACM0`, `COM3`, `/dev/pts/N`,
`socket://host:port`, `rfc2217://host:port`, `loop://`.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator

import serial

from hardware.device import DeviceError

# ENXIO/ENODEV: a USB CDC device that vanished between probe and open
_GONE = (errno.ENOENT, errno.ENXIO, errno.ENODEV)


# Windows serial ports: COM3, and the device-namespace form \\.\COM10 that ports above COM9 need in the Win32 API
_COM_PORT = re.compile(r"(\\\\\.\\)?COM\d+", flags=re.IGNORECASE)


def is_com_port(url: str) -> bool:
    return bool(_COM_PORT.fullmatch(url))


def is_path_url(url: str) -> bool:
    """A plain device path (no `scheme://`), where a missing file means the device is not plugged in."""
    return "://" not in url and not is_com_port(url)


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    found = re.search(r"\[Errno (\d+)\]", str(exc))
    return int(found.group(1)) if found else None


def describe_open_error(url: str, exc: BaseException) -> DeviceError:
    code = _errno_of(exc)
    if code in _GONE:
        return DeviceError(f"no such device: {url}")
    if code == errno.EACCES:
        return DeviceError(f"permission denied: {url} (add the service user to the 'dialout' group)")
    if code == errno.EBUSY:
        return DeviceError(f"device busy: {url} (another program has it open)")
    if code == errno.ECONNREFUSED:
        return DeviceError(f"connection refused: {url} (is the device on?)")
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
        return DeviceError(f"unreachable: {url} ({os.strerror(code)})")
    return DeviceError(f"cannot open {url}: {exc}")


def open_serial(url: str, baudrate: int, timeout: float) -> serial.SerialBase:
    """An open port for `url`; `DeviceError("no such device: …")` and friends when it cannot be opened."""
    if is_path_url(url) and not os.path.exists(url):
        # a dangling symlink (udev name of an unplugged scanner) or a path that never existed
        raise DeviceError(f"no such device: {url}")
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, write_timeout=5,
                                     do_not_open=False)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise describe_open_error(url, exc) from None


@contextlib.contextmanager
def mapped_io_errors(url: str) -> Iterator[None]:
    """Inside: a read or write failure means the device went away (unplugged, powered off, socket closed)."""
    try:
        yield
    except (serial.SerialException, OSError) as exc:
        text = str(exc)
        if "returned no data" in text or "socket disconnected" in text or _errno_of(exc) == errno.EIO:
            text = "unplugged or powered off"
        raise DeviceError(f"device disconnected: {url} ({text})", state="disconnected") from None
