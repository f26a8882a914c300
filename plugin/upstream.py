"""The service's side of the insurer gateway: sign-in, queries, and journaled sends.

This is where the difference between "refused" and "unknown" becomes a decision (STYLE.md, httpx). A query that
fails is simply unavailable. A money-moving message is journaled before it leaves (DESIGN §5); when its answer is
lost the caller learns `OutcomeUnknown` and must resolve by asking the insurer — never by sending it again.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from adapters.nhsa.client import Answer, Envelope, GatewayClient
from adapters.nhsa.errors import (GatewayError, GatewayOutcomeUnknown, GatewayRefused, GatewayUnreachable)
from adapters.nhsa.errors import GatewayProtocolError
from plugin.errors import InvalidInput, RxlaneError
from plugin.ledger import Ledger

# Messages that move money or report to the insurer: journaled before they leave the process.
JOURNALED = {"2102", "2103", "2601", "3505", "3506", "7204", "7206"}


def refused(exc: GatewayRefused) -> RxlaneError:
    return RxlaneError(
        "UPSTREAM_REFUSED",
        message=f"The insurer refused the request (infcode {exc.infcode}): {exc.err_msg}",
        message_zh=f"医保中心拒绝：{exc.err_msg}",
        details={"infcode": exc.infcode, "err_msg": exc.err_msg})


def unavailable(exc: GatewayError) -> RxlaneError:
    return RxlaneError("UPSTREAM_UNAVAILABLE", details={"reason": type(exc).__name__})


#: What reading a malformed insurer answer raises (the adapter's parsers, Decimal, our rule modules' from_mapping).
UNREADABLE = (GatewayProtocolError, ArithmeticError, ValueError, TypeError, AttributeError, KeyError, InvalidInput)


@contextmanager
def insurer_data(infno: str) -> Iterator[None]:
    """Reading an answer that moved no money: if the insurer's data is malformed it is the insurer's fault, not
    the POS's (never INVALID_INPUT, never a 500) — the call is simply unavailable."""
    try:
        yield
    except UNREADABLE as exc:
        details = {"reason": f"unreadable {infno} answer"}
        if isinstance(exc, InvalidInput) and exc.details.get("field"):
            details["field"] = exc.details["field"]
        raise RxlaneError("UPSTREAM_UNAVAILABLE", message="The insurer's answer could not be read; nothing was "
                          "charged.", message_zh="医保中心返回的数据无法识别，未发生扣费，请稍后重试。",
                          details=details) from None


class OutcomeUnknown(Exception):
    """A journaled message left and no usable answer came back: money may have moved."""

    def __init__(self, msgid: str, cause: GatewayError):
        super().__init__(f"outcome of {msgid} unknown: {type(cause).__name__}")
        self.msgid = msgid
        self.cause = cause


@dataclass
class UpstreamStatus:
    reachable: bool | None = None
    signed_in: bool = False
    sign_no: str = ""
    signed_in_at: str | None = None
    last_error: str | None = None
    last_ok_at: str | None = None
    latency_ms: float | None = None


class Upstream:
    def __init__(self, client: GatewayClient, ledger: Ledger, on_latency: Callable[[str, float], None] | None = None):
        self.client = client
        self.ledger = ledger
        self.status = UpstreamStatus()
        self._sign_lock = threading.Lock()
        self._signed_day: str | None = None
        self._on_latency = on_latency

    # -- sign-in once a day and after a restart (nhsa.md 9001) -----------------------------------------------
    def ensure_signed_in(self) -> None:
        today = datetime.now().strftime("%Y-%m-%d")
        if self._signed_day == today:
            return
        with self._sign_lock:
            if self._signed_day == today:
                return
            try:
                sign_no = self.client.sign_in()
            except GatewayRefused as exc:
                self._note_error(exc)
                raise refused(exc) from None
            except GatewayError as exc:
                self._note_error(exc)
                raise unavailable(exc) from None
            self._signed_day = today
            self.status.signed_in = True
            self.status.sign_no = sign_no
            self.status.signed_in_at = datetime.now().isoformat(sep=" ", timespec="seconds")
            self._note_ok()

    def _note_ok(self) -> None:
        self.status.reachable = True
        self.status.last_error = None
        self.status.last_ok_at = datetime.now().isoformat(sep=" ", timespec="seconds")

    def _note_error(self, exc: GatewayError) -> None:
        if isinstance(exc, GatewayRefused):
            self.status.reachable = True
        else:
            self.status.reachable = False
        self.status.last_error = type(exc).__name__

    def _send(self, env: Envelope) -> Answer:
        started = time.perf_counter()
        try:
            answer = self.client.send(env)
        except GatewayRefused:
            self.status.reachable = True
            raise
        except GatewayError as exc:
            self._note_error(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.status.latency_ms = round(elapsed * 1000, 2)
            if self._on_latency:
                self._on_latency(env.infno, elapsed)
        self._note_ok()
        return answer

    # -- queries: nothing moves, a failure is just unavailable -----------------------------------------------
    def query(self, infno: str, input: dict[str, Any], *, insuplc_admdvs: str = "") -> dict[str, Any]:
        self.ensure_signed_in()
        env = self.client.prepare(infno, input, insuplc_admdvs=insuplc_admdvs)
        try:
            return self._send(env).output
        except GatewayRefused as exc:
            raise refused(exc) from None
        except GatewayError as exc:
            raise unavailable(exc) from None

    # -- journaled sends ------------------------------------------------------------------------------------
    def prepare(self, infno: str, input: dict[str, Any], *, insuplc_admdvs: str = "",
                msgid: str | None = None) -> Envelope:
        self.ensure_signed_in()
        return self.client.prepare(infno, input, insuplc_admdvs=insuplc_admdvs, msgid=msgid)

    def send_journaled(self, env: Envelope) -> Answer:
        """Send a message whose journal row is already committed; record the answer or raise.

        Raises `RxlaneError` UPSTREAM_REFUSED / UPSTREAM_UNAVAILABLE when nothing moved (journal says so), or
        `OutcomeUnknown` when the answer was lost (journal says 'unknown'; the caller marks the sale in doubt).
        """
        try:
            answer = self._send(env)
        except GatewayRefused as exc:
            self.ledger.journal_answer(env.msgid, "refused", answer=exc.answer.raw if exc.answer else None,
                                       infcode=exc.infcode, err_msg=exc.err_msg)
            raise refused(exc) from None
        except GatewayUnreachable as exc:
            self.ledger.journal_answer(env.msgid, "unsent", err_msg=type(exc).__name__)
            raise unavailable(exc) from None
        except GatewayOutcomeUnknown as exc:
            self.ledger.journal_answer(env.msgid, "unknown", err_msg=type(exc).__name__)
            raise OutcomeUnknown(env.msgid, exc) from None
        return answer
