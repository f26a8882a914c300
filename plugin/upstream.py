"""The service's side of the insurer gateway: sign-in, plain queries, and the raw send the journaled exchange uses.

This is where the gateway adapter's error tree becomes rxlane's typed refusals: a query that fails is simply
unavailable (``UpstreamUnavailable``), a refusal keeps the insurer's words (``UpstreamRefused``). Messages that move
money or report never go through ``query``: they go through plugin/exchange.py, which journals them first.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from collections.abc import Callable

from adapters.nhsa.client import Answer, Envelope, GatewayClient
from adapters.nhsa.errors import GatewayError, GatewayInputError, GatewayProtocolError, GatewayRefused
from plugin.errors import InvalidInput, RxlaneError, UpstreamRefused, UpstreamUnavailable
from plugin.retry import SIGN_IN, RetryPolicy


def refused(exc: GatewayRefused) -> UpstreamRefused:
    return UpstreamRefused(exc.infcode, exc.err_msg)


def unavailable(exc: GatewayError) -> UpstreamUnavailable:
    return UpstreamUnavailable(details={"reason": type(exc).__name__})


def incomplete(exc: GatewayInputError) -> RxlaneError:
    """A message the gateway profile says is incomplete: nothing was sent; the problems name each field."""
    return RxlaneError("GATEWAY_MESSAGE_INCOMPLETE", message=exc.message, message_zh=exc.message_zh,
                       details={"infno": exc.infno, "problems": exc.problems})


@contextmanager
def insurer_data(infno: str) -> Iterator[None]:
    """Reading an answer that moved no money: an answer the adapter cannot read (its parsers raise only
    ``GatewayProtocolError``), or a record our rules refuse (``InvalidInput`` naming the field), is the insurer's
    fault, not the POS's — never INVALID_INPUT, never a 500: the call is simply unavailable. Anything else is a
    bug of ours and surfaces."""
    try:
        yield
    except (GatewayProtocolError, InvalidInput) as exc:
        details: dict[str, Any] = {"reason": f"unreadable {infno} answer"}
        if isinstance(exc, InvalidInput) and exc.details.get("field"):
            details["field"] = exc.details["field"]
        raise UpstreamUnavailable("The insurer's answer could not be read; nothing was charged.",
                                  "医保中心返回的数据无法识别，未发生扣费，请稍后重试。", details) from None


@dataclass
class UpstreamStatus:
    reachable: bool | None = None
    signed_in: bool = False
    sign_no: str = ""
    signed_in_at: str | None = None
    last_error: str | None = None
    last_ok_at: str | None = None
    latency_ms: float | None = None
    clock_skew_s: float | None = None    # this PC's clock minus the insurer's (from the last answer's respond_time)


class Upstream:
    def __init__(self, client: GatewayClient, on_latency: Callable[[str, float], None] | None = None, *,
                 retry: RetryPolicy = SIGN_IN, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.status = UpstreamStatus()
        self._sign_lock = threading.Lock()
        self._signed_day: str | None = None
        self._on_latency = on_latency
        self._retry = retry
        self._clock = clock
        self._sign_failures = 0
        self._sign_again_at = 0.0
        self._sign_error: RxlaneError | None = None

    # -- sign-in once a day and after a restart (9001) ------------------------------------------------------------
    def ensure_signed_in(self) -> None:
        """Sign in (9001) once a day. After a failed sign-in the next attempt waits out the retry policy's delay
        (with jitter, so counters do not return together after an outage); meanwhile callers get the last
        failure at once instead of each sending a sign-in of its own."""
        today = datetime.now().strftime("%Y-%m-%d")
        if self._signed_day == today:
            return
        with self._sign_lock:
            if self._signed_day == today:
                return
            if self._sign_error is not None and self._clock() < self._sign_again_at:
                raise self._sign_error
            try:
                sign_no = self.client.sign_in()
            except GatewayError as exc:
                self._note_error(exc)
                err: RxlaneError = refused(exc) if isinstance(exc, GatewayRefused) else unavailable(exc)
                self._sign_failures += 1
                self._sign_again_at = self._clock() + self._retry.delay(self._sign_failures)
                self._sign_error = err
                raise err from None
            self._sign_failures, self._sign_error = 0, None
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
        self.status.reachable = isinstance(exc, GatewayRefused)
        self.status.last_error = type(exc).__name__

    def send(self, env: Envelope) -> Answer:
        """Post one prepared envelope; the gateway adapter's errors pass through (the caller decides)."""
        started = time.perf_counter()
        sent_at = datetime.now()
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
        self._note_clock(answer.respond_time, sent_at, datetime.now())
        return answer

    def _note_clock(self, respond_time: str, sent_at: datetime, received_at: datetime) -> None:
        """Every answer carries the insurer's clock (``respond_time``, yyyyMMddHHmmssSSS): compared with the middle
        of our round trip it tells how far this PC's clock is off (health shows a skew beyond a setting)."""
        try:
            theirs = datetime.strptime(respond_time[:14], "%Y%m%d%H%M%S")
        except ValueError:
            return
        ours = sent_at + (received_at - sent_at) / 2
        self.status.clock_skew_s = round((ours - theirs).total_seconds(), 1)

    def prepare(self, infno: str, input: dict[str, Any], *, insuplc_admdvs: str = "", insutype: str = "",
                msgid: str | None = None, cainfo: str = "") -> Envelope:
        """Sign in if needed, then build the envelope from the gateway profile. A message the profile says is
        incomplete raises GATEWAY_MESSAGE_INCOMPLETE (nothing is sent)."""
        self.ensure_signed_in()
        try:
            return self.client.prepare(infno, input, insuplc_admdvs=insuplc_admdvs, insutype=insutype, msgid=msgid,
                                       cainfo=cainfo)
        except GatewayInputError as exc:
            raise incomplete(exc) from None

    def sign_in_lost(self, exc: GatewayRefused) -> bool:
        """Does this refusal say the sign-in is no longer valid (the profile's patterns)? Then the next message
        signs in again first."""
        if not self.client.profile.sign_in_invalid(exc.err_msg):
            return False
        with self._sign_lock:
            self._signed_day = None
            self.status.signed_in = False
        return True

    # -- queries: nothing moves, a failure is just unavailable ---------------------------------------------------
    def query(self, infno: str, input: dict[str, Any], *, insuplc_admdvs: str = "",
              insutype: str = "") -> dict[str, Any]:
        """Send a message that moves nothing; a refusal saying the sign-in lapsed signs in again and asks once
        more."""
        for attempt in (1, 2):
            env = self.prepare(infno, input, insuplc_admdvs=insuplc_admdvs, insutype=insutype)
            try:
                return self.send(env).output
            except GatewayRefused as exc:
                if attempt == 1 and self.sign_in_lost(exc):
                    continue
                raise refused(exc) from None
            except GatewayError as exc:
                raise unavailable(exc) from None
        raise AssertionError("unreachable")

    def fetch_file(self, infno: str, input: dict[str, Any]) -> bytes:
        """A query whose answer is a file (9102): the file's bytes. Failures as for ``query``; an unreadable answer
        is ``UpstreamUnavailable`` (nothing moved)."""
        for attempt in (1, 2):
            env = self.prepare(infno, input)
            try:
                content = self.client.fetch_file(env)
            except GatewayRefused as exc:
                self.status.reachable = True
                if attempt == 1 and self.sign_in_lost(exc):
                    continue
                raise refused(exc) from None
            except GatewayProtocolError:
                self.status.reachable = True
                raise UpstreamUnavailable("The insurer's file could not be read; nothing moved.",
                                          "医保中心返回的文件无法识别，请稍后重试。",
                                          {"reason": f"unreadable {infno} answer"}) from None
            except GatewayError as exc:
                self._note_error(exc)
                raise unavailable(exc) from None
            self._note_ok()
            return content
        raise AssertionError("unreachable")
