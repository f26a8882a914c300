"""Startup and background recovery: no sale stays between states, no upload stays unsent.

A sale left in `settling`/`refunding` by a crash has a committed journal row and no recorded answer: its outcome
is unknown, so it becomes in doubt and is resolved by reversal (2601) of the journaled msgid (docs/architecture.md).
"""
from __future__ import annotations

import logging
import threading

from plugin.errors import RxlaneError
from plugin.outbox import Outbox
from plugin.sales import SaleService
from plugin.store import Ledger

log = logging.getLogger("rxlane.recovery")


def adopt_interrupted(ledger: Ledger) -> int:
    """Sales a crash left mid-flight become in doubt (the LOST move of plugin/sale.py); returns how many."""
    with ledger.transaction() as c:
        n = ledger.sales.adopt_interrupted(c)
        ledger.journal.mark_interrupted(c, ("2102", "2103", "2601"))
    return n


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

    def add_round(self, step) -> None:
        """Another chore for each round (e.g. the daily reconciliation when it is due)."""
        self._rounds.append(step)

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
        for step in (lambda: resolve_all(self.sales), self.outbox.drain, *self._rounds):
            try:
                step()
            except Exception:   # the loop must survive anything; the next round retries
                log.exception("recovery round step failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.interval_s)
            self._wake.clear()
