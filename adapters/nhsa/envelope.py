"""The insurer's request/answer envelope (docs/gateway.md "Request envelope", "Response envelope") and message ids.

``msgid`` is the key of journaling and of 冲正 (2601): it must be unique per message for the life of the pharmacy's
institution code, including across restarts inside the same second. ``MsgIdGenerator`` therefore starts above the
newest id the ledger holds and never goes back, even when the wall clock does.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from collections.abc import Callable

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.reading import lower_keys, output_object

MSGID_TIME_FORMAT = "%Y%m%d%H%M%S"
INF_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class MsgIdGenerator:
    """fixmedins_code (12) + yyyyMMddHHmmss (14) + sequence (4) = 30 chars, strictly increasing.

    Several counters of one pharmacy share its fixmedins_code, so the sequence's first digit is the counter's
    number (0–9) and the other three count within the second: two counters settling in the same second can never
    send the same msgid (the insurer would answer the second with the first's settlement). When a second's 999
    sequences are used up the next id borrows the following second rather than sleeping: the time part is a
    uniqueness device, not a timestamp anyone reconciles against.
    """

    PER_SECOND = 999
    #: Where a one-off tool beside a running service (``rxlane gateway check``) starts each second. A counter's ids
    #: stop below it (a 900th message in one second takes the next second), so the two never send the same msgid.
    TOOL_FIRST = 900

    def __init__(self, fixmedins_code: str, clock: Callable[[], datetime] = datetime.now,
                 last_issued: str | None = None, counter_no: int = 0, first: int = 1):
        if len(fixmedins_code) != 12:
            raise ValueError("fixmedins_code must be 12 characters")
        if not 0 <= counter_no <= 9:
            raise ValueError("counter_no must be 0..9")
        self.fixmedins_code = fixmedins_code
        self.counter_no = counter_no
        self.first = first
        self.last = self.PER_SECOND if first >= self.TOOL_FIRST else self.TOOL_FIRST - 1
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[datetime, int] | None = self._parse(last_issued) if last_issued else None

    def _parse(self, msgid: str) -> tuple[datetime, int] | None:
        if len(msgid) != 30 or not msgid.startswith(self.fixmedins_code):
            return None  # another institution's id cannot collide with ours
        try:
            return datetime.strptime(msgid[12:26], MSGID_TIME_FORMAT), int(msgid[26:]) % 1000
        except ValueError:
            return None

    def next(self) -> str:
        with self._lock:
            now = self._clock().replace(microsecond=0, tzinfo=None)
            if self._last is None or now > self._last[0]:
                stamp, seq = now, self.first
            else:
                stamp, seq = self._last[0], max(self._last[1] + 1, self.first)
                if seq > self.last:
                    stamp, seq = stamp + timedelta(seconds=1), self.first
            self._last = (stamp, seq)
            return self._format(stamp, seq)

    def _format(self, stamp: datetime, seq: int) -> str:
        return f"{self.fixmedins_code}{stamp.strftime(MSGID_TIME_FORMAT)}{self.counter_no * 1000 + seq:04d}"

    @property
    def last_issued(self) -> str | None:
        with self._lock:
            return None if self._last is None else self._format(*self._last)


@dataclass
class Envelope:
    """One prepared request. ``infno`` is the logical number ("3505"); ``body["infno"]`` carries any provincial
    suffix ("3505A"). ``headers`` holds the signing headers of the last send (computed per send: nonces differ)."""

    msgid: str
    infno: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    infcode: int
    err_msg: str
    output: dict[str, Any]
    inf_refmsgid: str
    respond_time: str
    raw: dict[str, Any]
    warn_msg: str = ""


def parse_answer(raw: Any, *, infno: str = "", msgid: str = "") -> Answer:
    """Validate the answer's shape (docs/gateway.md, "Reading answers"). Anything that is not a readable envelope
    is a protocol error (outcome unknown): a garbled answer to a 2102 says nothing about whether the settlement
    happened. A refusal (infcode ≠ 0) is read even without ``output`` or ``inf_refmsgid``."""
    if not isinstance(raw, dict) or "infcode" not in raw:
        raise GatewayProtocolError("The insurer's answer has no infcode.", infno=infno, msgid=msgid)
    code = raw["infcode"]
    try:
        if isinstance(code, (bool, float)):
            raise ValueError
        infcode = int(str(code).strip())
    except ValueError:
        raise GatewayProtocolError("The insurer's answer has a non-numeric infcode.",
                                   infno=infno, msgid=msgid) from None
    try:
        output = output_object(raw.get("output"))
    except GatewayProtocolError as exc:
        if infcode == 0:
            raise GatewayProtocolError(exc.message, infno=infno, msgid=msgid) from None
        output = None
    return Answer(infcode=infcode, err_msg=_text(raw.get("err_msg")), output=lower_keys(output or {}),
                  inf_refmsgid=_text(raw.get("inf_refmsgid")), respond_time=_text(raw.get("respond_time")),
                  raw=raw, warn_msg=_text(raw.get("warn_msg")))


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value)
