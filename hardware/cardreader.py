"""Social-security card readers (社保卡读卡器): a serial reader, or PC/SC when the optional extra is installed.

Serial frame format (one frame per card tap, framed like a scanner by the model's framing):

    <card_no><separator><card_sn>[<separator>anything else…]

e.g. `A12345678|SN0001`: `card_no` is the social-security card number (社会保障卡卡号; 1101's `mdtrt_cert_no`
with `mdtrt_cert_type` "03"), `card_sn` is the chip's identification code (卡识别码; 1101's `card_sn`). The
separator is model data (`separator`, default "|"). Fields beyond the second are ignored (some readers append
the holder's name — never needed here, and personal data we should not keep). `read_frame` returns the
canonical form `card_no|card_sn` whatever the model's separator, so the service parses one format
(`parse_card`).

PC/SC (`url = "pcsc://"` or `"pcsc://<reader name>"`) needs `pyscard` from the optional `[hw]` extra. Without
it the device reports state "error" with an install hint; importing this module never fails.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from hardware.device import DeviceConfig, DeviceError, State
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


class PcscCardReader:
    """PC/SC reader. Present only as far as the optional dependency allows: without `pyscard` it can never
    open, and says why in its state instead of failing at import time."""

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.state: State = "disconnected"
        self.last_error: str | None = None
        self.last_seen: datetime | None = None
        self.bad_frames = 0
        self.dropped = 0

    def open(self) -> None:
        try:
            from smartcard.System import readers  # noqa: F401  (optional [hw] extra)
        except ImportError:
            self.state, self.last_error = "error", PCSC_MISSING
            raise DeviceError(PCSC_MISSING) from None
        # Reading the card number needs the card issuer's APDU sequence (社保卡 application selection), which
        # is not specified in DESIGN/nhsa.md; refuse clearly rather than guess.
        message = "PC/SC card reading is not implemented yet; configure the reader in serial (COM) mode"
        self.state, self.last_error = "error", message
        raise DeviceError(message)

    def read_frame(self, timeout: float) -> str | None:
        raise DeviceError(self.last_error or "not open", state=self.state if self.state != "connected" else "error")

    def close(self) -> None:
        if self.state != "error":
            self.state = "disconnected"


def card_reader_for(config: DeviceConfig) -> SerialCardReader | PcscCardReader:
    if config.url.startswith("pcsc://"):
        return PcscCardReader(config)
    return SerialCardReader(config)
