"""The insurer's request/answer envelope (nhsa.md "Request envelope", "Response envelope") and message ids.

``msgid`` is the key of journaling and of 冲正 (2601): it must be unique per message for the life of the pharmacy's
institution code, including across restarts inside the same second. ``MsgIdGenerator`` therefore starts above the
newest id the ledger holds and never goes back, even when the wall clock does.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from adapters.nhsa.errors import GatewayProtocolError

MSGID_TIME_FORMAT = "%Y%m%d%H%M%S"
INF_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SEQ_MAX = 9999


class MsgIdGenerator:
    """fixmedins_code (12) + yyyyMMddHHmmss (14) + sequence (4) = 30 chars, strictly increasing.

    When one second's 9999 sequences are used up the next id borrows the following second rather than sleeping:
    the time part is a uniqueness device, not a timestamp anyone reconciles against.
    """

    def __init__(self, fixmedins_code: str, clock: Callable[[], datetime] = datetime.now,
                 last_issued: str | None = None):
        if len(fixmedins_code) != 12:
            raise ValueError("fixmedins_code must be 12 characters")
        self.fixmedins_code = fixmedins_code
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[datetime, int] | None = self._parse(last_issued) if last_issued else None

    def _parse(self, msgid: str) -> tuple[datetime, int] | None:
        if len(msgid) != 30 or not msgid.startswith(self.fixmedins_code):
            return None  # another institution's id cannot collide with ours
        try:
            return datetime.strptime(msgid[12:26], MSGID_TIME_FORMAT), int(msgid[26:])
        except ValueError:
            return None

    def next(self) -> str:
        with self._lock:
            now = self._clock().replace(microsecond=0, tzinfo=None)
            if self._last is None or now > self._last[0]:
                stamp, seq = now, 1
            else:
                stamp, seq = self._last[0], self._last[1] + 1
                if seq > SEQ_MAX:
                    stamp, seq = stamp + timedelta(seconds=1), 1
            self._last = (stamp, seq)
            return f"{self.fixmedins_code}{stamp.strftime(MSGID_TIME_FORMAT)}{seq:04d}"

    @property
    def last_issued(self) -> str | None:
        with self._lock:
            if self._last is None:
                return None
            return f"{self.fixmedins_code}{self._last[0].strftime(MSGID_TIME_FORMAT)}{self._last[1]:04d}"


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
    """Validate the answer's shape. Anything that is not a readable envelope is a protocol error (outcome unknown):
    a garbled answer to a 2102 says nothing about whether the settlement happened."""
    if not isinstance(raw, dict) or "infcode" not in raw:
        raise GatewayProtocolError("The insurer's answer has no infcode.", infno=infno, msgid=msgid)
    code = raw["infcode"]
    try:
        if isinstance(code, bool) or isinstance(code, float):
            raise ValueError
        infcode = int(str(code).strip())
    except ValueError:
        raise GatewayProtocolError("The insurer's answer has a non-numeric infcode.",
                                   infno=infno, msgid=msgid) from None
    output = raw.get("output")
    if output is None or output == "":
        output = {}
    if not isinstance(output, dict):
        if infcode == 0:
            raise GatewayProtocolError("The insurer's answer output is not an object.", infno=infno, msgid=msgid)
        output = {}
    return Answer(infcode=infcode, err_msg=str(raw.get("err_msg") or ""), output=output,
                  inf_refmsgid=str(raw.get("inf_refmsgid") or ""), respond_time=str(raw.get("respond_time") or ""),
                  raw=raw, warn_msg=str(raw.get("warn_msg") or ""))
