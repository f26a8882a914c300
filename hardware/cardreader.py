"""Social-security card readers (社保卡读卡器): a serial reader, or PC/SC when the optional extra is installed.

Serial frame format (one frame per card tap, framed like a scanner by the model's framing):

    <card_no><separator><card_sn>[<separator>anything else…]

e.g. `A12345678|SN0001`: `card_no` is the social-security card number (社会保障卡卡号; 1101's `mdtrt_cert_no`
with `mdtrt_cert_type` "03"), `card_sn` is the chip's identification code (卡识别码; 1101's `card_sn`). The
separator is model data (`separator`, default "|"). Fields beyond the second are ignored (some readers append
the holder's name — never needed here, and personal data we should not keep). `read_frame` returns the
canonical form `card_no|card_sn` whatever the model's separator, so the service parses one format
(`parse_card`).

PC/SC (`url = "pcsc://"` or `"pcsc://<reader name>"`, `model = "pcsc-ssc"`) needs `pyscard` from the optional
`[hw]` extra; the card's APDU steps are model data (config/devices/pcsc-ssc.toml). Without pyscard the device
reports state "error" with an install hint; importing this module never fails.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable
from typing import Any

from hardware.device import CardReaderStatus, DeviceConfig, DeviceError, State
from hardware.framing import BadFrame
from hardware.scanner import SerialScanner

PCSC_MISSING = "PC/SC support needs the optional extra: pip install 'rxlane[hw]'"
_FIELD = re.compile(r"[0-9A-Za-z]{1,32}")


@dataclass(frozen=True)
class CardRead:
    card_no: str
    card_sn: str


def parse_card(text: str, separator: str = "|") -> CardRead:
    """`A12345678|SN0001` → CardRead; `BadFrame` when the frame is not a card read."""
    parts = [p.strip() for p in text.split(separator)]
    if len(parts) < 2 or not all(_FIELD.fullmatch(p) for p in parts[:2]):
        raise BadFrame(f"bad frame: not a card read (expected card_no{separator}card_sn, "
                       f"{len(text)} characters)")
    return CardRead(card_no=parts[0], card_sn=parts[1])


class SerialCardReader(SerialScanner):
    """A card reader that sends one framed text line per card, on any pyserial URL."""

    def parse(self, text: str) -> str:
        card = parse_card(text, self.config.separator)
        return f"{card.card_no}|{card.card_sn}"


class PcscCardReader(CardReaderStatus):
    """A PC/SC (USB CCID) reader: polls for a card, runs the model's APDU steps, and hands over `card_no|card_sn`
    once per card tap (the card must be taken out before it is read again).

    The lowest seam is pyscard's own API — `readers()` giving reader objects with `createConnection()` — which
    tests replace; without `pyscard` the device reports state "error" with the install hint and never crashes."""

    POLL_S = 0.2

    def __init__(self, config: DeviceConfig, readers: Callable[[], list] | None = None) -> None:
        super().__init__(config)
        self._readers = readers
        self._reader: Any = None      # a pyscard reader (no type information)
        self._present: str | None = None   # the card in the slot, already read

    def _fail(self, message: str, state: State = "error") -> DeviceError:
        self.state, self.last_error = state, message
        return DeviceError(message, state=state)

    def open(self) -> None:
        if self._readers is None:
            try:
                from smartcard.System import readers  # optional [hw] extra
            except ImportError:
                raise self._fail(PCSC_MISSING) from None
            self._readers = readers
        if not self.config.apdu_card_no or not self.config.apdu_card_sn:
            raise self._fail("PC/SC reader needs its card's APDU steps: set model = \"pcsc-ssc\"")
        wanted = self.config.url.removeprefix("pcsc://")
        try:
            found = [r for r in self._readers() if wanted in str(r)]
        except Exception as exc:  # noqa: BLE001 — the PC/SC service itself may be down (pcscd not running)
            raise self._fail(f"PC/SC service unavailable: {type(exc).__name__}") from None
        if not found:
            raise self._fail(f"no such device: no PC/SC reader{' named ' + repr(wanted) if wanted else ''}")
        self._reader = found[0]
        self.state, self.last_error = "connected", None

    def read_frame(self, timeout: float) -> str | None:
        if self._reader is None:
            raise self._fail(self.last_error or "not open")
        deadline = time.monotonic() + timeout
        while True:
            read = self._read_card()
            if read is not None:
                self.last_seen = datetime.now()
                return read
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(self.POLL_S, max(0.0, deadline - time.monotonic())))

    def _read_card(self) -> str | None:
        try:
            conn = self._reader.createConnection()
            conn.connect()
        except Exception as exc:  # noqa: BLE001 — pyscard's NoCardException & co.: no card (or it was pulled)
            if "reader" in type(exc).__name__.lower() and "card" not in type(exc).__name__.lower():
                raise self._fail(f"reader unplugged: {type(exc).__name__}", "disconnected") from None
            self._present = None
            return None
        try:
            if self.config.apdu_select:
                self._transmit(conn, self.config.apdu_select)
            card_sn = _tlv_text(self._run(conn, self.config.apdu_card_sn))
            if card_sn == self._present:
                return None                  # the same card still in the slot: read once per tap
            card_no = _tlv_text(self._run(conn, self.config.apdu_card_no))
        except CardError as exc:
            self.bad_frames += 1
            raise BadFrame(f"bad frame: card read failed ({exc})") from None
        except Exception as exc:  # noqa: BLE001 — the card was pulled mid-read: nothing half-read is delivered
            self._present = None
            raise BadFrame(f"bad frame: card removed during reading ({type(exc).__name__})") from None
        finally:
            try:
                conn.disconnect()
            except Exception:  # noqa: BLE001
                pass
        if not (_FIELD.fullmatch(card_no) and _FIELD.fullmatch(card_sn)):
            self.bad_frames += 1
            raise BadFrame("bad frame: the card's number or identification code is not readable")
        self._present = card_sn
        return f"{card_no}|{card_sn}"

    def _run(self, conn, steps: tuple[str, ...]) -> bytes:
        data = b""
        for step in steps:
            data = self._transmit(conn, step)
        return data

    @staticmethod
    def _transmit(conn, apdu_hex: str) -> bytes:
        apdu = list(bytes.fromhex(apdu_hex))
        data, sw1, sw2 = conn.transmit(apdu)
        if sw1 == 0x61:                                   # more data: GET RESPONSE
            data, sw1, sw2 = conn.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
        elif sw1 == 0x6C:                                 # wrong Le: resend with the right one
            data, sw1, sw2 = conn.transmit(apdu[:4] + [sw2])
        if (sw1, sw2) != (0x90, 0x00):
            raise CardError(f"{apdu_hex[:8]} answered {sw1:02X}{sw2:02X}")
        return bytes(data)

    def close(self) -> None:
        self._reader = None
        if self.state != "error":
            self.state = "disconnected"


class CardError(Exception):
    """The card refused a step (status word other than 9000)."""


def _tlv_text(record: bytes) -> str:
    """A record is tag, length, value; the value is ASCII padded with spaces, NULs or 0xFF."""
    if len(record) < 2 or record[1] > len(record) - 2:
        raise CardError("record is not tag-length-value")
    value = record[2:2 + record[1]]
    return value.rstrip(b"\x00\xff ").decode("ascii", errors="replace").strip()


def card_reader_for(config: DeviceConfig) -> SerialCardReader | PcscCardReader:
    if config.url.startswith("pcsc://"):
        return PcscCardReader(config)
    return SerialCardReader(config)
