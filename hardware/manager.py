"""The device registry: one loop per scanner / card reader, periodic re-probing of printers, state events.

Like the Odoo IoT box's drivers (docs/developing.md), each input device gets its own thread that opens the port, reads
frames and hands every good one to `on_scan(device_name, text)`. When the device goes away (unplugged,
power-cycled, socket closed) the loop closes the port and retries with backoff capped at `reprobe_s`, so a
scanner plugged in after start, or plugged back in, is found without a restart (docs/hardware.md). Every change of
(state, error) is pushed through `on_state(name, state, error)` for the counter page's device panel.

The service passes the callbacks in: `hardware` never imports `plugin` (docs/architecture.md). The manager never grabs
the keyboard — keyboard-wedge scanners type into the counter page or the POS and need nothing here.
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from hardware.cardreader import card_reader_for
from hardware.device import DeviceConfig, DeviceError
from hardware.framing import BadFrame
from hardware.printer import Printer
from hardware.scanner import SerialScanner
from hardware.slip import slip_escpos
from hardware.sscard_lib import LibraryCardReader

log = logging.getLogger("rxlane.hardware")
_FIRST_RETRY_S = 0.05
_READ_SLICE_S = 0.25  # how long one read waits before the loop checks for stop()
_LIBRARY_RETRY_CAP_S = 30.0   # a library that cannot load is not retried (a process each time) more often

TEST_SALE = {
    "pharmacy": {"name": "打印测试 PRINT TEST", "code": ""},
    "time": "",
    "patient": {"name_masked": "测*", "certno_masked": "0000**********0000", "insutype": "310"},
    "setl_id": "TEST0001",
    "hi_rxno": "",
    "lines": [{"name": "测试药品（样张）", "spec": "1盒", "qty": "1", "price": "0.00", "line_total": "0.00",
               "trace_codes": []}],
    "split": {"medfee_sumamt": "0.00", "hifp_pay": "0.00", "hifob_pay": "0.00", "hifmi_pay": "0.00",
              "acct_pay": "0.00", "psn_cash_pay": "0.00"},
}


def _no_printer(name: str | None) -> dict:
    return {"name": name, "ok": False, "error": f"no printer named {name!r}" if name else "no printer configured"}


def driver_for(config: DeviceConfig):
    if config.driver == "sscard_lib":
        return LibraryCardReader(config)
    if config.kind == "printer":
        return Printer(config)
    if config.kind == "card_reader":
        return card_reader_for(config)
    return SerialScanner(config)


@dataclass
class _Entry:
    config: DeviceConfig
    driver: Any
    state: str = "disconnected"
    error: str | None = None
    error_code: str | None = None
    error_zh: str | None = None
    last_bad_frame: str | None = None
    bad_frames: int = 0
    thread: threading.Thread | None = None
    waiters: list[queue.Queue] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class DeviceManager:
    def __init__(self, configs: list[DeviceConfig], on_scan: Callable[[str, str], None],
                 on_state: Callable[[str, str, str | None], None], reprobe_s: float = 3.0,
                 on_bad_frame: Callable[[str, str], None] | None = None) -> None:
        self._entries: dict[str, _Entry] = {}
        for config in configs:
            if config.name in self._entries:
                raise ValueError(f"devices: name {config.name!r} is used twice")
            self._entries[config.name] = _Entry(config, driver_for(config))
        self._on_scan = on_scan
        self._on_state = on_state
        self._on_bad_frame = on_bad_frame
        self.reprobe_s = reprobe_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ----

    def start(self) -> None:
        if self._threads:
            return  # already running
        self._stop.clear()
        for entry in self._entries.values():
            if entry.config.kind == "printer":
                continue
            entry.thread = threading.Thread(target=self._run_input, args=(entry,), daemon=True,
                                            name=f"rxlane-device-{entry.config.name}")
            self._threads.append(entry.thread)
        if any(e.config.kind == "printer" for e in self._entries.values()):
            self._threads.append(threading.Thread(target=self._run_printer_probe, daemon=True,
                                                  name="rxlane-printer-probe"))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
        for entry in self._entries.values():
            try:
                entry.driver.close()
            except Exception:  # closing is best effort; the process may be exiting
                log.exception("closing device %s failed", entry.config.name)

    # ---- queries and commands ----

    def states(self) -> list[dict]:
        out = []
        for entry in self._entries.values():
            seen = entry.driver.last_seen
            out.append({"name": entry.config.name, "kind": entry.config.kind, "url": entry.config.url,
                        "model": entry.config.model, "state": entry.state, "error": entry.error,
                        "last_seen": seen.isoformat() if seen else None, "bad_frames": entry.bad_frames,
                        "dropped": getattr(entry.driver, "dropped", 0), "last_bad_frame": entry.last_bad_frame,
                        "error_code": entry.error_code, "message_zh": entry.error_zh,
                        "read_on_request": _asked(entry), "restarts": getattr(entry.driver, "restarts", 0)})
        return out

    def test(self, name: str, timeout_s: float = 10.0) -> dict:
        """Scanner / card reader: wait for one read and return it (it does not go to on_scan).
        Printer: print a test slip."""
        entry = self._entries.get(name)
        if entry is None:
            return {"name": name, "ok": False, "error": f"no such device configured: {name}"}
        if entry.config.kind == "printer":
            return self.print_slip(name, TEST_SALE)
        if _asked(entry):
            try:
                text = self.read(name)
            except DeviceError as exc:
                return {"name": name, "kind": entry.config.kind, "ok": False, "error": exc.message,
                        "code": exc.code, "message_zh": exc.message_zh}
            return {"name": name, "kind": entry.config.kind, "ok": True, "scan": text}
        slot: queue.Queue = queue.Queue(maxsize=1)
        with entry.lock:
            entry.waiters.append(slot)
        try:
            text = slot.get(timeout=timeout_s)
        except queue.Empty:
            detail = f"; device is {entry.state}: {entry.error}" if entry.error else f"; device is {entry.state}"
            return {"name": name, "kind": entry.config.kind, "ok": False,
                    "error": f"nothing read within {timeout_s:g} s{detail}"}
        finally:
            with entry.lock:
                if slot in entry.waiters:
                    entry.waiters.remove(slot)
        return {"name": name, "kind": entry.config.kind, "ok": True, "scan": text}

    def read(self, name: str) -> str:
        """Ask a reader that is asked (a vendor library) for one card now: the `card_no|card_sn` frame, which does
        not go to on_scan (the caller publishes it). `DeviceError` (with its code) when there is no card, the
        reader or its library failed, or the device is not such a reader. Reads of one device are serialised."""
        entry = self._asked_entry(name)
        with entry.lock:
            try:
                if not entry.driver.alive():
                    entry.driver.open()
                card = entry.driver.read_card()
            except DeviceError as exc:
                self._publish_error(entry, exc)
                raise
        self._publish(entry, "connected", None)
        return card.canonical

    def verify_pin(self, name: str) -> None:
        """iVerifyPIN on an asked reader: returns when the card accepted the PIN typed on the reader's keypad."""
        entry = self._asked_entry(name)
        with entry.lock:
            try:
                if not entry.driver.alive():
                    entry.driver.open()
                entry.driver.verify_pin()
            except DeviceError as exc:
                self._publish_error(entry, exc)
                raise
        self._publish(entry, "connected", None)

    def _asked_entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise DeviceError(f"no such device configured: {name}", code="NOT_FOUND")
        if not _asked(entry):
            raise DeviceError(f"{name} sends its reads by itself (scan or tap); it cannot be asked to read",
                              code="DEVICE_CANNOT_READ", message_zh="该设备扫码或刷卡即自动读取，无需点击读卡。")
        return entry

    def printer_config(self, name: str | None = None) -> DeviceConfig | None:
        """The printer `name` (or the first printer) as configured, or None."""
        entry = self._printer(name)
        return entry.config if entry else None

    def print(self, name: str | None, data: bytes) -> dict:
        """Send a job to `name`, or to the first printer. Never raises: `{name, ok, error}`."""
        entry = self._printer(name)
        if entry is None:
            return _no_printer(name)
        return self._print_to(entry, data)

    def print_slip(self, name: str | None, sale: dict) -> dict:
        """Render a slip (hardware/slip.py) in the printer's own code page and columns and print it. Never raises:
        a slip that cannot be rendered is `{ok: False, error}` like a printer that is off."""
        entry = self._printer(name)
        if entry is None:
            return _no_printer(name)
        try:
            job = slip_escpos(sale, entry.config.code_page or "gb18030", entry.config.columns)
        except Exception as exc:  # a slip that cannot be laid out must not fail the sale that moved money
            log.exception("rendering the slip for %s failed", entry.config.name)
            return {"name": entry.config.name, "kind": "printer", "ok": False,
                    "error": f"cannot render the slip: {exc}"}
        return self._print_to(entry, job)

    def _printer(self, name: str | None) -> _Entry | None:
        printers = [e for e in self._entries.values() if e.config.kind == "printer"]
        if name is not None:
            printers = [e for e in printers if e.config.name == name]
        return printers[0] if printers else None

    # ---- internals ----

    def _print_to(self, entry: _Entry, data: bytes) -> dict:
        with entry.lock:
            ok = entry.driver.write(data)
        self._publish(entry, entry.driver.state, entry.driver.last_error)
        return {"name": entry.config.name, "kind": "printer", "ok": ok, "error": None if ok else entry.error}

    def _publish(self, entry: _Entry, state: str, error: str | None, code: str | None = None,
                 error_zh: str | None = None) -> None:
        with self._lock:
            entry.error_code, entry.error_zh = (code, error_zh) if error else (None, None)
            if (entry.state, entry.error) == (state, error):
                return
            entry.state, entry.error = state, error
        log.info("device %s: %s%s", entry.config.name, state, f" ({error})" if error else "")
        try:
            self._on_state(entry.config.name, state, error)
        except Exception:
            log.exception("on_state callback failed for %s", entry.config.name)

    def _publish_error(self, entry: _Entry, exc: DeviceError) -> None:
        if exc.state == "connected":        # the device is fine; only this read failed (e.g. no card)
            self._publish(entry, "connected", None)
        else:
            self._publish(entry, exc.state, exc.message, exc.code or None, exc.message_zh or None)

    def _backoff_cap(self, entry: _Entry) -> float:
        return max(_FIRST_RETRY_S, min(self.reprobe_s, entry.config.reprobe_s))

    def _run_input(self, entry: _Entry) -> None:
        if _asked(entry):
            return self._run_asked(entry)
        delay = _FIRST_RETRY_S
        while not self._stop.is_set():
            if entry.state not in ("error", "disconnected") or entry.error is None:
                self._publish(entry, "connecting", None)
            try:
                entry.driver.open()
            except DeviceError as exc:
                self._publish(entry, "error", exc.message)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff_cap(entry))
                continue
            delay = _FIRST_RETRY_S
            self._publish(entry, "connected", None)
            try:
                self._pump(entry)
            except DeviceError as exc:
                self._publish(entry, exc.state, exc.message)
            except Exception as exc:  # a driver bug: report it and keep the loop alive
                log.exception("device %s failed", entry.config.name)
                self._publish(entry, "error", f"internal error: {exc}")
            finally:
                entry.driver.close()
            self._stop.wait(delay)
        if entry.state == "connected":
            self._publish(entry, "disconnected", None)

    def _run_asked(self, entry: _Entry) -> None:
        """A reader that is asked: keep its library loaded. A worker that died (a crash, a hang killed) is started
        again with backoff; reads themselves come through read()."""
        delay = _FIRST_RETRY_S
        while not self._stop.is_set():
            if not entry.driver.alive():
                failure = self._open_asked(entry)
                if failure is not None:
                    cap = _LIBRARY_RETRY_CAP_S if failure.code == "DEVICE_LIBRARY_UNAVAILABLE" else \
                        self._backoff_cap(entry)
                    self._stop.wait(delay)
                    delay = min(delay * 2, cap)
                    continue
                delay = _FIRST_RETRY_S
            self._stop.wait(_READ_SLICE_S)
        with entry.lock:
            entry.driver.close()
        if entry.state == "connected":
            self._publish(entry, "disconnected", None)

    def _open_asked(self, entry: _Entry) -> DeviceError | None:
        with entry.lock:
            if entry.driver.alive():        # a read started it meanwhile
                return None
            if entry.state != "error":
                self._publish(entry, "connecting", None)
            try:
                entry.driver.open()
            except DeviceError as exc:
                self._publish_error(entry, exc)
                return exc
            if entry.state in ("connecting", "error"):
                self._publish(entry, "connected", None)
        return None

    def _pump(self, entry: _Entry) -> None:
        while not self._stop.is_set():
            try:
                text = entry.driver.read_frame(_READ_SLICE_S)
            except BadFrame as exc:
                entry.bad_frames += 1
                entry.last_bad_frame = str(exc)
                if self._on_bad_frame:
                    self._call(self._on_bad_frame, entry, str(exc))
                continue
            if text is not None:
                self._deliver(entry, text)
                notice = getattr(entry.driver, "notice", None)
                if notice != entry.error and (notice or entry.error):
                    # the scans get through; the device panel says what to set so they stop needing the tolerance
                    self._publish(entry, "connected", notice)

    def _deliver(self, entry: _Entry, text: str) -> None:
        with entry.lock:
            waiter = entry.waiters.pop(0) if entry.waiters else None
        if waiter is not None:
            waiter.put(text)
            return
        self._call(self._on_scan, entry, text)

    def _call(self, callback: Callable[[str, str], None], entry: _Entry, text: str) -> None:
        try:
            callback(entry.config.name, text)
        except Exception:  # the service's problem must not stop the device loop
            # the text is not logged: a card read is personal data (docs/security.md)
            log.exception("callback failed for device %s", entry.config.name)

    def _run_printer_probe(self) -> None:
        printers = [e for e in self._entries.values() if e.config.kind == "printer"]
        while not self._stop.is_set():
            for entry in printers:
                with entry.lock:
                    try:
                        entry.driver.open()
                    except DeviceError:
                        pass
                    except Exception as exc:
                        entry.driver.state, entry.driver.last_error = "error", f"internal error: {exc}"
                self._publish(entry, entry.driver.state, entry.driver.last_error)
            self._stop.wait(min([self.reprobe_s] + [e.config.reprobe_s for e in printers]))


def _asked(entry: _Entry) -> bool:
    return bool(getattr(entry.driver, "asked", False))
