"""Push this store's health to headquarters (`[hq] heartbeat_url`), for stores behind NAT that HQ cannot poll.

The same JSON as `GET /v1/health` (no personal data in it) is POSTed every `heartbeat_s`; a failed push is only
logged — the counter must never wait on HQ.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import requests

from plugin.logs import get_logger

log = get_logger("rxlane.heartbeat")


class Heartbeat:
    def __init__(self, url: str, every_s: float, report: Callable[[], dict[str, Any]],
                 session: requests.Session | None = None, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.every_s = every_s
        self.report = report
        self.session = session or requests.Session()
        self.clock = clock
        self._last: float | None = None
        self.sent = 0

    def beat_if_due(self) -> bool:
        if not self.url or (self._last is not None and self.clock() - self._last < self.every_s):
            return False
        self._last = self.clock()
        try:
            resp = self.session.post(self.url, json=self.report(), timeout=5)
            resp.raise_for_status()
        except requests.RequestException as exc:
            log.warning("heartbeat failed", error=type(exc).__name__)
            return False
        self.sent += 1
        return True
