"""One journaled exchange with the insurer: prepare → journal → send → answered | refused | unsent | unknown.

Every message that moves money or reports (2102, 2103, 2601, 3505/3506, 7204/7206) goes through ``Exchange.send``,
so the rule "journal before send" (docs/architecture.md, "Money") is written once:

1. the envelope is prepared (signing in first if needed) — nothing is written if that fails;
2. the request is committed to the journal, together with the caller's own change (``journaled``: e.g. the sale
   moves to ``settling``) in one transaction;
3. it is sent;
4. the outcome is recorded:
   - **refused** (infcode ≠ 0): journal ``refused`` + the caller's ``failed`` change, then ``UpstreamRefused``;
   - **unsent** (nothing left the machine): journal ``unsent`` + ``failed``, then ``UpstreamUnavailable``;
   - **unknown** (timeout, broken connection, an answer that is not an envelope, or an infcode-0 answer the
     caller's ``read`` cannot read): journal ``unknown`` + the caller's ``lost`` change, then ``OutcomeUnknown``
     — the caller must resolve by asking the insurer, never by sending again;
   - **answered**: the caller gets a ``Reply`` and records the journal answer with its own change in one
     transaction (``reply.record(conn)``).

Only the gateway adapter's ``GatewayProtocolError`` from ``read`` means "unreadable": a bug of ours (a KeyError,
a TypeError) is not caught here and surfaces as the bug it is, rather than turning a paid settlement into a
reversal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from adapters.nhsa.client import Answer, Envelope
from adapters.nhsa.errors import (GatewayOutcomeUnknown, GatewayProtocolError, GatewayRefused,
                                  GatewayUnreachable)
from plugin.crashpoints import crash_point
from plugin.errors import RxlaneError
from plugin.store import Connection, Ledger
from plugin.store.journal import ANSWERED, REFUSED, UNKNOWN, UNSENT
from plugin.upstream import Upstream, refused, unavailable

T = TypeVar("T")
Change = Callable[[Connection], None]
Journaled = Callable[[Connection, str], None]


class _SignInLost(Exception):
    """The message was refused because the sign-in lapsed: nothing moved; sign in and send it again."""


class OutcomeUnknown(Exception):
    """A journaled message left and no usable answer came back: money may have moved."""

    def __init__(self, msgid: str, cause: Exception):
        super().__init__(f"outcome of {msgid} unknown: {type(cause).__name__}")
        self.msgid = msgid
        self.cause = cause


@dataclass
class Reply(Generic[T]):
    """An answered exchange: the envelope sent, the insurer's answer, what ``read`` made of it."""
    env: Envelope
    answer: Answer
    value: T
    _ledger: Ledger

    @property
    def msgid(self) -> str:
        return self.env.msgid

    def record(self, conn: Connection, *, durable: bool = True) -> None:
        """Write the journal's ``answered`` row in the caller's transaction (with the caller's own change)."""
        self._ledger.journal.answer(self.env.msgid, ANSWERED, answer=self.answer.raw, infcode=0, conn=conn,
                                    durable=durable)


def _nothing(_: Connection) -> None:
    return None


def _keep(answer: Answer) -> Answer:
    return answer


class Exchange:
    def __init__(self, ledger: Ledger, upstream: Upstream):
        self.ledger = ledger
        self.upstream = upstream

    def send(self, infno: str, input: dict[str, Any], *, sale_id: str | None, label: str,
             read: Callable[[Answer], T] = _keep,  # type: ignore[assignment]
             insuplc_admdvs: str = "", insutype: str = "", msgid: str | None = None, retry: bool = False,
             cainfo: str = "", journaled: Journaled | None = None,
             failed: Callable[[Connection, RxlaneError], None] | None = None, lost: Change = _nothing) -> Reply[T]:
        """Run one exchange (see the module docstring). ``label`` names the crash points
        (``{label}.before_journal``, ``.after_journal``, ``.after_send``); ``retry`` resends an outbox message under
        its first msgid, keeping its first journal row. A refusal saying the sign-in lapsed (nothing moved) signs
        in again and sends once more as a new message."""
        try:
            return self._send(infno, input, sale_id=sale_id, label=label, read=read, insuplc_admdvs=insuplc_admdvs,
                              insutype=insutype, msgid=msgid, retry=retry, cainfo=cainfo, journaled=journaled,
                              failed=failed, lost=lost, resign=True)
        except _SignInLost:
            return self._send(infno, input, sale_id=sale_id, label=label, read=read, insuplc_admdvs=insuplc_admdvs,
                              insutype=insutype, msgid=None if not retry else msgid, retry=retry, cainfo=cainfo,
                              journaled=journaled, failed=failed, lost=lost, resign=False)

    def _send(self, infno: str, input: dict[str, Any], *, sale_id: str | None, label: str,
              read: Callable[[Answer], T], insuplc_admdvs: str, insutype: str, msgid: str | None, retry: bool,
              cainfo: str, journaled: Journaled | None, failed: Callable[[Connection, RxlaneError], None] | None,
              lost: Change, resign: bool) -> Reply[T]:
        env = self.upstream.prepare(infno, input, insuplc_admdvs=insuplc_admdvs, insutype=insutype, msgid=msgid,
                                    cainfo=cainfo)
        crash_point(f"{label}.before_journal")
        with self.ledger.transaction() as c:
            self.ledger.journal.request(env.msgid, infno, env.body, sale_id, c, retry=retry)
            if journaled is not None:
                journaled(c, env.msgid)
        crash_point(f"{label}.after_journal")
        try:
            answer = self.upstream.send(env)
            crash_point(f"{label}.after_send")
        except GatewayRefused as exc:
            err: RxlaneError = refused(exc)
            self._failed(env, REFUSED, failed, err, answer=exc.answer.raw if exc.answer else None,
                         infcode=exc.infcode, err_msg=exc.err_msg)
            if resign and self.upstream.sign_in_lost(exc):
                raise _SignInLost() from None
            raise err from None
        except GatewayUnreachable as exc:
            err = unavailable(exc)
            self._failed(env, UNSENT, failed, err, err_msg=type(exc).__name__)
            raise err from None
        except GatewayOutcomeUnknown as exc:
            self._lost(env, lost, None, type(exc).__name__)
            raise OutcomeUnknown(env.msgid, exc) from None
        try:
            value = read(answer)
        except GatewayProtocolError as exc:
            # infcode 0 but the answer cannot be read: money may have moved, exactly as if the answer were lost
            self._lost(env, lost, answer.raw, f"unreadable {infno} answer")
            raise OutcomeUnknown(env.msgid, exc) from None
        return Reply(env, answer, value, self.ledger)

    def _lost(self, env: Envelope, lost: Change, raw: dict[str, Any] | None, why: str) -> None:
        with self.ledger.transaction() as c:
            self.ledger.journal.answer(env.msgid, UNKNOWN, answer=raw, err_msg=why, conn=c)
            lost(c)

    def _failed(self, env: Envelope, state: str, failed: Callable[[Connection, RxlaneError], None] | None,
                err: RxlaneError, **journal: Any) -> None:
        with self.ledger.transaction() as c:
            self.ledger.journal.answer(env.msgid, state, conn=c, **journal)
            if failed is not None:
                failed(c, err)

