"""Who may call: loopback callers (the counter PC itself) need nothing; beyond loopback every call needs a
per-terminal token (docs/security.md). Personal data is unmasked only for a token with the `pii` scope, and each such
use is written to the audit trail (个人信息保护法: minimum exposure, accountable access)."""
from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, current_app, g, request

from plugin import tokens
from plugin.errors import RxlaneError

PUBLIC = ("/v1/health", "/openapi.json", "/metrics", "/counter/static/")
ADMIN = ("/v1/reconciliation", "/v1/reports/", "/v1/devices/", "/v1/stock")
RECONCILE_ROWS = "/v1/reconciliation/rows"     # the lead counter gathering the store's day (scope "reconcile")
PII_PATHS = ("/v1/patients", "/v1/sales", "/v1/prescriptions")
def pii_allowed() -> bool:
    return bool(getattr(g, "pii", False))


COUNTER_DEVICE_ACTIONS = ("/read", "/verify-pin")   # reading a card is part of a sale, not administration


def _needed_scope(path: str, method: str) -> str | None:
    if path == "/" or path.startswith(PUBLIC):
        return None
    if path.startswith("/v1/devices/") and path.endswith(COUNTER_DEVICE_ACTIONS):
        return "sales"
    if path == RECONCILE_ROWS:
        return "reconcile"
    if path.startswith("/v1/stock") and method != "GET":
        return "admin"
    if path.startswith(ADMIN) and (method == "POST" or path.startswith("/v1/reports/")):
        return "admin"
    return "sales"


class RateLimit:
    """A sliding window per terminal: identification queries the insurer with personal data; a runaway script
    or a stolen token must not enumerate patients."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def check(self, terminal: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(terminal, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                raise RxlaneError("RATE_LIMITED", details={"per_minute": self.per_minute,
                                                           "retry_after_s": int(60 - (now - hits[0])) + 1})
            hits.append(now)


def install(app: Flask, *, required: bool, identify_per_minute: int) -> None:
    limiter = RateLimit(identify_per_minute)

    @app.before_request
    def _authenticate() -> None:
        g.pii, g.terminal = False, "local"
        scope = _needed_scope(request.path, request.method)
        header = request.headers.get("Authorization", "")
        if scope is None and not header:
            return
        token = None
        if header:
            if not header.startswith("Bearer "):
                raise RxlaneError("UNAUTHORIZED")
            token = tokens.lookup(current_app.extensions["rxlane"].ledger, header[7:].strip())
            if token is None:
                raise RxlaneError("UNAUTHORIZED")
        elif required:
            raise RxlaneError("UNAUTHORIZED")
        if token is not None:
            if scope is not None and scope not in token.scopes:
                raise RxlaneError("FORBIDDEN", details={"needs": scope})
            g.terminal = token.terminal
            g.pii = "pii" in token.scopes
            if g.pii and request.path.startswith(PII_PATHS):
                current_app.extensions["rxlane"].ledger.audit.append(
                    "pii_access", None, {"terminal": token.terminal, "token_id": token.id,
                                         "method": request.method, "path": request.path[:120],
                                         "request_id": getattr(g, "request_id", "")})
        if request.path == "/v1/patients/identify":
            limiter.check(g.terminal)
