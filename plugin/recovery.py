"""Startup and background recovery: no sale stays between states, no upload stays unsent.

A sale left in `settling`/`refunding` by a crash has a committed journal row and no recorded answer: its outcome
is unknown, so it becomes in doubt and is resolved by reversal (2601) of the journaled msgid (docs/architecture.md).
The same holds while running for a sale whose exchange is no longer in flight in this process (its outcome could
not be written: a full disk) — it is *stranded*: health counts it at once and each round adopts it as in doubt as
soon as the ledger takes writes again (docs/reliability.md, "A full disk").
"""
from __future__ import annotations

import logging
import threading

from plugin.errors import LedgerFault, RxlaneError
from plugin.exchange import MONEY, in_flight
from plugin.outbox import Outbox
from plugin.sales import SaleService
from plugin.store import Ledger

log = logging.getLogger("rxlane.recovery")


def adopt_interrupted(ledger: Ledger) -> int:
    """Sales a crash or a failed write left mid-flight become in doubt (the LOST move of plugin/sale.py), except
    those whose exchange is still in flight in this process; returns how many."""
    with ledger.transaction() as c:
        # read under the ledger's lock: an exchange is registered before its journal commit and removed after
        # its outcome's commit, so a mid-flight sale not in the registry really is stranded
        msgids, sale_ids = in_flight(ledger).snapshot()
        moved = ledger.sales.adopt_interrupted(c, sale_ids)
        for sale_id in moved:
            ledger.audit.append("in_doubt", sale_id, {"from": "interrupted"}, conn=c)
        ledger.journal.mark_interrupted(c, tuple(sorted(MONEY)), msgids)
    return len(moved)


def stranded_ids(ledger: Ledger) -> list[str]:
    """Mid-flight sales with no exchange in flight: in doubt in all but name until the next round adopts them
    (health counts them with the in-doubt sales)."""
    _, sale_ids = in_flight(ledger).snapshot()
    return [s for s in ledger.sales.mid_flight() if s not in sale_ids]


def watch_ledger(ledger: Ledger) -> None:
    """Each round: notice the ledger's files deleted under the process (money then stops, plugin/store/db.py)."""
    before = ledger.fault
    fault = ledger.check_files()
    if fault is not None and before is None:
        log.error("ledger files lost, money stopped: %s", fault.reason)


def resolve_all(sales: SaleService, *, force: bool = False) -> dict[str, str]:
    """Resolve every in-doubt sale (2601). A sale whose reversal the insurer refused ``reversal.max_attempts``
    times is left for a person (health lists it; ``rxlane doctor --resolve`` tries again: ``force``)."""
    results = {}
    limit = sales.profile.reversal.max_attempts
    for sale_id in sales.in_doubt_ids():
        if not force and sales.reversal_attempts(sale_id) >= limit:
            results[sale_id] = "needs attention: the insurer refused the reversal"
            continue
        try:
            results[sale_id] = sales.resolve(sale_id)
        except RxlaneError as exc:
            results[sale_id] = f"error: {exc.code}"
    return results


class Recovery:
    """A background loop: resolve in-doubt sales and drain the outbox, now and every `interval_s`."""

    def __init__(self, sales: SaleService, outbox: Outbox, interval_s: float = 5.0):
        self.sales = sales
        self.outbox = outbox
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rounds: list = []

    def set_rounds(self, steps: list) -> None:
        """The chores of each round beside resolving and draining (e.g. the daily reconciliation when it is due;
        plugin/service.py ``background_rounds``), replacing any set before."""
        self._rounds = list(steps)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rxlane-recovery", daemon=True)
        self._thread.start()

    def kick(self, *_: object) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def run_once(self) -> None:
        ledger = self.sales.ledger
        for step in (lambda: watch_ledger(ledger), lambda: self._adopt_stranded(ledger),
                     lambda: resolve_all(self.sales), self.outbox.drain, *self._rounds):
            try:
                step()
            except LedgerFault as fault:   # a full disk: said once per round, not a traceback per step
                log.warning("recovery round: %s", fault.code)
            except Exception:   # the loop must survive anything; the next round retries
                log.exception("recovery round step failed")

    @staticmethod
    def _adopt_stranded(ledger: Ledger) -> None:
        if ledger.fault is None and stranded_ids(ledger):
            n = adopt_interrupted(ledger)
            if n:
                log.warning("adopted %d stranded sale(s) as in doubt", n)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.interval_s)
            self._wake.clear()
