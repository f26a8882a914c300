"""A social-security card reader behind its vendor's standard library (`driver = "sscard_lib"`).

    [[devices]]
    name = "card-1"
    kind = "card_reader"
    driver = "sscard_lib"
    library = "C:/SSCard/SSCardDriver.dll"     # or /opt/vendor/lib/libSSCardDriver.so on Kylin/UOS
    read_type = 3                              # 1 contact, 2 contactless, 3/4 either
    timeout_s = 10

Such a reader is *asked*, not tapped: the pharmacist (or the POS) asks for a read (`POST /v1/devices/{name}/read`)
and rxlane calls `iReadCardBas(read_type, buffer)` once, in the library's own worker process
(adapters/isolated.py). The answer is parsed by hardware/sscard.py; the driver hands the service the same
`card_no|card_sn` frame as the serial and PC/SC readers, so a card identifies its holder with certificate type 03
and the card's real `card_sn`. With `verify_pin = true` (provinces that want the card password on settlement) each
read is followed by `iVerifyPIN`, the patient typing the PIN on the reader's keypad; the PIN never reaches rxlane.

Every failure is a `DeviceError` with a catalogue code and a Chinese message: the library missing or unloadable,
a crash or a hang (the worker is killed and restarted), an answer that is not GBK, truncated or longer than its
buffer, and each return code of the standard (no card, reader not connected, wrong PIN …).
"""
from __future__ import annotations

from datetime import datetime

from adapters.isolated import (CallResult, IsolatedLibrary, LibraryCrashed, LibraryError, LibraryHung,
                               LibraryUnavailable, Out)
from hardware.device import CardReaderStatus, DeviceConfig, DeviceError, State
from hardware.sscard import CardAnswerError, SsCard, outcome_of, parse_card_info, vendor_text

CARD_INFO_BYTES = 2048      # pOutInfo: the standard's answer is about 200 bytes; vendors' samples allocate 1–2 KiB
PIN_INFO_BYTES = 1024


class LibraryCardReader(CardReaderStatus):
    asked = True            # reads on request; the device loop only keeps the library loaded

    def __init__(self, config: DeviceConfig, library: IsolatedLibrary | None = None) -> None:
        super().__init__(config)
        symbols = ("iReadCardBas", "iVerifyPIN") if config.verify_pin else ("iReadCardBas",)
        self.library = library or IsolatedLibrary(config.library, symbols=symbols, python=config.library_python)

    @property
    def restarts(self) -> int:
        return self.library.restarts

    def alive(self) -> bool:
        return self.library.alive

    def open(self) -> None:
        """Start the worker and load the library (its functions checked); the reader itself is only met on a read."""
        try:
            self.library.start()
        except LibraryError as exc:
            raise self._fail(self._library_error(exc)) from None
        self.state, self.last_error = "connected", None

    def read_card(self) -> SsCard:
        result = self._call("iReadCardBas", CARD_INFO_BYTES, self.config.timeout_s)
        out = result.outs[0]
        if result.ret != 0:
            raise self._fail(self._refused(result.ret, out.data))
        try:
            card = parse_card_info(out.data)
        except CardAnswerError as exc:
            self.bad_frames += 1
            state: State = "error" if exc.code == "DEVICE_LIBRARY_BAD_ANSWER" else "connected"
            raise self._fail(DeviceError(exc.message, state, code=exc.code, message_zh=exc.message_zh)) from None
        if self.config.verify_pin:
            self.verify_pin()
        self.last_seen = datetime.now()
        self.state, self.last_error = "connected", None
        return card

    def verify_pin(self) -> None:
        """iVerifyPIN: the patient types the card password on the reader's keypad; None when the card accepts it."""
        result = self._call("iVerifyPIN", PIN_INFO_BYTES, self.config.pin_timeout_s)
        if result.ret != 0:
            raise self._fail(self._refused(result.ret, result.outs[0].data))
        self.state, self.last_error = "connected", None

    def close(self) -> None:
        self.library.close()
        if self.state != "error":
            self.state = "disconnected"

    # -- internals ----------------------------------------------------------------------------------------------
    def _call(self, function: str, out_bytes: int, timeout_s: float) -> CallResult:
        try:
            result = self.library.call(function, self.config.read_type, Out(out_bytes), timeout_s=timeout_s)
        except LibraryError as exc:
            raise self._fail(self._library_error(exc)) from None
        out = result.outs[0]
        if out.overrun or not out.terminated:
            self.bad_frames += 1
            raise self._fail(DeviceError(
                f"{function} answered more than its {out_bytes}-byte buffer holds", "error",
                code="DEVICE_LIBRARY_BAD_ANSWER",
                message_zh="读卡库返回的内容超出缓冲区长度（可能已损坏），已重启读卡进程，请重新读卡。"))
        return result

    def _refused(self, ret: int | bytes | None, text: bytes) -> DeviceError:
        code = ret if isinstance(ret, int) else -999
        outcome = outcome_of(code, vendor_text(text))
        return DeviceError(outcome.message, outcome.state, code=outcome.code, message_zh=outcome.message_zh,
                           details={"vendor_code": code})

    def _library_error(self, exc: LibraryError) -> DeviceError:
        if isinstance(exc, LibraryUnavailable):
            return DeviceError(f"card reader library unavailable: {exc.message}", "error",
                               code="DEVICE_LIBRARY_UNAVAILABLE", message_zh=f"读卡器厂家库不可用：{exc.message_zh}。",
                               details={"reason": exc.reason})
        kind = "hung" if isinstance(exc, LibraryHung) else "crashed" if isinstance(exc, LibraryCrashed) else "failed"
        return DeviceError(f"card reader library {kind}: {exc.message}", "error", code="DEVICE_LIBRARY_FAILED",
                           message_zh=f"{exc.message_zh}，请重新读卡。", details={"reason": kind})

    def _fail(self, exc: DeviceError) -> DeviceError:
        if exc.state != "connected":
            self.state, self.last_error = exc.state, exc.message
        return exc
