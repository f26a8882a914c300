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

When the ledger itself fails (docs/reliability.md, "A full disk"):

- before the journal entry: ``LedgerFault`` (nothing left the machine, nothing was charged);
- after it — the outcome could not be recorded (a full disk, an I/O error), whether refused, unsent, lost or
  answered: the message stays ``sent`` in the journal and its sale in ``settling``/``refunding``. Such an exchange
  is no longer *in flight* (``in_flight``), which is how ``stranded`` tells it from one still at the insurer: the
  recovery loop adopts it as in doubt (plugin/recovery.py), health counts it meanwhile, and the caller gets
  ``OutcomeUnknown`` — or, for an answered 2102/2103/2601 whose record failed, ``SettlementInDoubt``: never a 500.

Money stops (``LedgerFault``, before anything is prepared) while the ledger is damaged or its files were deleted.
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from collections.abc import Callable

from adapters.nhsa.client import Answer, Envelope
from adapters.nhsa.errors import (GatewayOutcomeUnknown, GatewayProtocolError, GatewayRefused,
                                  GatewayUnreachable)
from plugin.crashpoints import crash_point
from plugin.errors import LedgerFault, RxlaneError, SettlementInDoubt
from plugin.store import Connection, Ledger
from plugin.store.journal import ANSWERED, REFUSED, UNKNOWN, UNSENT
from plugin.upstream import Upstream, refused, unavailable

T = TypeVar("T")
Change = Callable[[Connection], None]
Journaled = Callable[[Connection, str], object]   # what it returns is ignored


class _SignInLost(Exception):
    """The message was refused because the sign-in lapsed: nothing moved; sign in and send it again."""


class OutcomeUnknown(Exception):
    """A journaled message left and no usable answer came back: money may have moved."""

    def __init__(self, msgid: str, cause: Exception):
        super().__init__(f"outcome of {msgid} unknown: {type(cause).__name__}")
        self.msgid = msgid
        self.cause = cause


#: Messages whose sale is in doubt when their outcome cannot be recorded (the others are resent under their msgid).
MONEY = frozenset({"2102", "2103", "2601"})
#: A reply handed to its caller and still not recorded after this long is taken as stranded (the caller failed
#: before it could record it); far beyond the longest wait for the ledger's lock.
HANDOFF_GRACE_S = 120.0


@dataclass
class _Flight:
    sale_id: str | None
    handed_at: float | None = None     # monotonic time the Reply went to its caller


class InFlight:
    """The exchanges of this process between their journal entry and their recorded outcome.

    A sale in ``settling``/``refunding`` whose exchange is not in flight is stranded: its process died, or its
    outcome could not be written. Only the owner of the data directory runs exchanges (plugin/datadir.py), so this
    process's registry is the whole truth. Entries are added before the journal commit and removed after the
    outcome's commit (or its failure); read under the ledger's lock, that order leaves no gap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def add(self, msgid: str, sale_id: str | None) -> None:
        with self._lock:
            self._flights[msgid] = _Flight(sale_id)

    def handed(self, msgid: str) -> None:
        with self._lock:
            flight = self._flights.get(msgid)
            if flight is not None:
                flight.handed_at = time.monotonic()

    def discard(self, msgid: str) -> None:
        with self._lock:
            self._flights.pop(msgid, None)

    def snapshot(self, now: float | None = None) -> tuple[frozenset[str], frozenset[str]]:
        """(msgids, sale ids) in flight; a reply handed out longer than HANDOFF_GRACE_S ago no longer counts."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._flights = {m: f for m, f in self._flights.items()
                             if f.handed_at is None or now - f.handed_at < HANDOFF_GRACE_S}
            live = dict(self._flights)
        return frozenset(live), frozenset(f.sale_id for f in live.values() if f.sale_id)


_REGISTRY: weakref.WeakKeyDictionary[Ledger, InFlight] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def in_flight(ledger: Ledger) -> InFlight:
    """The one registry of a ledger, shared by every Exchange on it (the sale service's and the outbox's)."""
    with _REGISTRY_LOCK:
        registry = _REGISTRY.get(ledger)
        if registry is None:
            registry = _REGISTRY[ledger] = InFlight()
        return registry


@dataclass
class Reply(Generic[T]):
    """An answered exchange: the envelope sent, the insurer's answer, what ``read`` made of it."""
    env: Envelope
    answer: Answer
    value: T
    _ledger: Ledger
    _sale_id: str | None = None
    _lost: Change = field(default=lambda _c: None)
    _exchange: Exchange | None = None

    @property
    def msgid(self) -> str:
        return self.env.msgid

    def record(self, conn: Connection, *, durable: bool = True) -> None:
        """Write the journal's ``answered`` row in the caller's transaction (with the caller's own change). If that
        transaction then fails (a full disk), the exchange is stranded and the caller's error becomes
        ``SettlementInDoubt`` for a money message (see the module docstring)."""
        self._ledger.journal.answer(self.env.msgid, ANSWERED, answer=self.answer.raw, infcode=0, conn=conn,
                                    durable=durable)
        if self._exchange is not None:
            self._ledger.db.on_outcome(conn, self._ended)

    def _ended(self, error: BaseException | None) -> BaseException | None:
        assert self._exchange is not None
        return self._exchange._recorded(self, error)


def _nothing(_: Connection) -> None:
    return None


def _keep(answer: Answer) -> Answer:
    return answer


class Exchange:
    def __init__(self, ledger: Ledger, upstream: Upstream | None):
        """``upstream`` None: an exchange that only lists (``rxlane outbox`` beside a running service) and never
        sends; ``send`` then raises RuntimeError, a bug of ours, before anything is journaled."""
        self.ledger = ledger
        self._upstream = upstream
        self.flights = in_flight(ledger)

    def send(self, infno: str, input: dict[str, Any], *, sale_id: str | None, label: str,
             read: Callable[[Answer], T] = _keep,  # type: ignore[assignment]
             insuplc_admdvs: str = "", insutype: str = "", msgid: str | None = None, retry: bool = False,
             cainfo: str = "", journaled: Journaled | None = None,
             failed: Callable[[Connection, RxlaneError], object] | None = None, lost: Change = _nothing) -> Reply[T]:
        """Run one exchange (see the module docstring). ``label`` names the crash points
        (``{label}.before_journal``, ``.after_journal``, ``.after_send``); ``retry`` resends an outbox message under
        its first msgid, keeping its first journal row. A refusal saying the sign-in lapsed (nothing moved) signs
        in again and sends once more as a new message."""
        if self.ledger.fault is not None:
            raise self.ledger.fault          # the books cannot be trusted to keep what happens next
        if self._upstream is None:
            raise RuntimeError("a listing-only exchange never sends")
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
              cainfo: str, journaled: Journaled | None, failed: Callable[[Connection, RxlaneError], object] | None,
              lost: Change, resign: bool) -> Reply[T]:
        assert self._upstream is not None    # checked by send
        upstream = self._upstream
        env = upstream.prepare(infno, input, insuplc_admdvs=insuplc_admdvs, insutype=insutype, msgid=msgid,
                                    cainfo=cainfo)
        crash_point(f"{label}.before_journal")
        self.flights.add(env.msgid, sale_id)
        try:
            with self.ledger.transaction() as c:
                self.ledger.journal.request(env.msgid, infno, env.body, sale_id, c, retry=retry)
                if journaled is not None:
                    journaled(c, env.msgid)
        except BaseException:
            self.flights.discard(env.msgid)  # nothing was journaled, nothing leaves
            raise
        crash_point(f"{label}.after_journal")
        try:
            answer = upstream.send(env)
            crash_point(f"{label}.after_send")
        except GatewayRefused as exc:
            err: RxlaneError = refused(exc)
            self._failed(env, REFUSED, failed, err, answer=exc.answer.raw if exc.answer else None,
                         infcode=exc.infcode, err_msg=exc.err_msg)
            if resign and upstream.sign_in_lost(exc):
                raise _SignInLost() from None
            raise err from None
        except GatewayUnreachable as exc:
            err = unavailable(exc)
            self._failed(env, UNSENT, failed, err, err_msg=type(exc).__name__)
            raise err from None
        except GatewayOutcomeUnknown as exc:
            self._lost(env, lost, None, type(exc).__name__)
            raise OutcomeUnknown(env.msgid, exc) from None
        except BaseException:
            self.flights.discard(env.msgid)  # a bug of ours mid-send: stranded, so recovery resolves it
            raise
        try:
            value = read(answer)
        except GatewayProtocolError as exc:
            # infcode 0 but the answer cannot be read: money may have moved, exactly as if the answer were lost
            self._lost(env, lost, answer.raw, f"unreadable {infno} answer")
            raise OutcomeUnknown(env.msgid, exc) from None
        except BaseException:
            self.flights.discard(env.msgid)
            raise
        self.flights.handed(env.msgid)
        return Reply(env, answer, value, self.ledger, sale_id, lost, self)

    def _lost(self, env: Envelope, lost: Change, raw: dict[str, Any] | None, why: str) -> None:
        try:
            with self.ledger.transaction() as c:
                self.ledger.journal.answer(env.msgid, UNKNOWN, answer=raw, err_msg=why, conn=c)
                lost(c)
        except LedgerFault:
            pass    # stranded: the recovery loop adopts it once the ledger takes writes again
        finally:
            self.flights.discard(env.msgid)

    def _failed(self, env: Envelope, state: str, failed: Callable[[Connection, RxlaneError], object] | None,
                err: RxlaneError, **journal: Any) -> None:
        try:
            with self.ledger.transaction() as c:
                self.ledger.journal.answer(env.msgid, state, conn=c, **journal)
                if failed is not None:
                    failed(c, err)
        except LedgerFault as fault:
            # the insurer's "no" (or "never sent") cannot be written: the sale stays settling until recovery adopts
            # it as in doubt and reverses the message — the caller must not read this as "nothing happened, retry"
            self.flights.discard(env.msgid)
            raise OutcomeUnknown(env.msgid, fault) from None
        self.flights.discard(env.msgid)

    def _recorded(self, reply: Reply[Any], error: BaseException | None) -> BaseException | None:
        """The caller's transaction holding ``reply.record`` ended. On failure the answer is not on the books:
        try to record the exchange as lost (in doubt) in a transaction of its own; either way the caller is told
        the settlement is in doubt rather than given the disk's error."""
        if error is None:
            self.flights.discard(reply.msgid)
            return None
        if not isinstance(error, LedgerFault):
            self.flights.discard(reply.msgid)
            return None     # a refusal or a bug in the caller's own change: its error stands
        self._lost(reply.env, reply._lost, reply.answer.raw, f"answer not recorded: {error.reason}")
        if reply.env.infno in MONEY and reply._sale_id:
            return SettlementInDoubt(reply._sale_id, reply.msgid, reason="ledger_write_failed")
        return None

