"""Who may call (docs/reliability.md, "Who may call").

- **Host**: only the host names rxlane is meant to be reached by (the loopback names, the address it is bound to,
  and the names listed in ``[server] allowed_hosts``) — a web page that re-points its own name at 127.0.0.1 (DNS
  rebinding) sends its own name and is refused ``HOST_NOT_ALLOWED``. IP literals are accepted when bound to every
  interface: rebinding needs a name.
- **Origin**: a request that changes something must come from rxlane's own origin (the counter page) or from no
  browser at all (the POS): a browser's ``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin``
  that is not rxlane's own (nor in ``[server] allowed_origins``), is refused ``CROSS_ORIGIN_REFUSED``. Together with
  JSON-only bodies (plugin/api/http.py) no foreign page can drive the API.
- **Tokens**: loopback callers (the counter PC itself) need none; when bound beyond loopback — judged by the address
  actually bound, not by its spelling — every call needs a per-terminal token, `/v1/health`, `/metrics` and the
  counter page included. The page takes its token once as ``/?token=…`` and keeps it as an HttpOnly, SameSite=Strict
  cookie. Personal data is unmasked only for a token with the ``pii`` scope, and each such use is audited
  (个人信息保护法: minimum exposure, accountable access).
"""
from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, request
from werkzeug.wrappers import Response as ResponseBase

from plugin import tokens
from plugin.config import binds_loopback as is_loopback
from plugin.errors import RxlaneError

ALWAYS_PUBLIC = ("/openapi.json", "/counter/static/")
OPEN_ON_LOOPBACK = ("/v1/health", "/metrics")
ADMIN = ("/v1/reconciliation", "/v1/reports/", "/v1/devices/", "/v1/stock", "/v1/outbox")
RECONCILE_ROWS = "/v1/reconciliation/rows"     # the lead counter gathering the store's day (scope "reconcile")
PII_PATHS = ("/v1/patients", "/v1/sales", "/v1/prescriptions")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})
COOKIE = "rxlane_token"
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})
#: Always rxlane's own: no web page can make "localhost" or a loopback address mean its own server.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def pii_allowed() -> bool:
    return bool(getattr(g, "pii", False))


COUNTER_DEVICE_ACTIONS = ("/read", "/verify-pin")   # reading a card is part of a sale, not administration


def _needed_scope(path: str, method: str, loopback: bool) -> str | None:
    """None: no token needed; "any": any valid token; else the scope the token must carry."""
    if path.startswith(ALWAYS_PUBLIC):
        return None
    if path == "/" or path.startswith(OPEN_ON_LOOPBACK):
        return None if loopback else "any"
    if path.startswith("/v1/devices/") and path.endswith(COUNTER_DEVICE_ACTIONS):
        return "sales"
    if path == RECONCILE_ROWS:
        return "reconcile"
    if path.startswith("/v1/stock") and method != "GET":
        return "admin"
    if path.startswith(ADMIN) and (method == "POST" or path.startswith("/v1/reports/")):
        return "admin"
    return "sales"


def _host_name(header: str) -> str:
    """The name part of a Host header (port and IPv6 brackets removed), lower case."""
    try:
        return (urlsplit(f"//{header}").hostname or "").lower()
    except ValueError:
        return "\x00invalid"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


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


def bind(app: Flask, host: str) -> None:
    """Tell the app the address it is actually bound to (``rxlane serve`` calls this after binding): it decides
    whether tokens are required and which host names are rxlane's own."""
    app.config["RXLANE_BOUND_HOST"] = host
    app.config["RXLANE_LOOPBACK"] = is_loopback(host)


def install(app: Flask, *, required: bool, identify_per_minute: int, host: str = "127.0.0.1",
            allowed_hosts: tuple[str, ...] = (), allowed_origins: tuple[str, ...] = ()) -> None:
    """``required``: tokens even on loopback (``[server] require_tokens``); ``host``: the configured bind address,
    until ``bind`` tells the bound one."""
    limiter = RateLimit(identify_per_minute)
    names = LOOPBACK_NAMES | frozenset(h.strip().strip("[]").lower() for h in allowed_hosts if h.strip())
    origins = frozenset(o.rstrip("/").lower() for o in allowed_origins if o.strip())
    bind(app, host)

    def host_allowed(name: str) -> bool:
        if "*" in names or name in names:
            return True
        bound = str(app.config["RXLANE_BOUND_HOST"]).strip("[]").lower()
        if name == bound:
            return True
        return bound in WILDCARDS and _is_ip(name)

    @app.before_request
    def _who_is_asking() -> None:
        header = request.headers.get("Host")
        if header is not None and not host_allowed(_host_name(header)):
            raise RxlaneError("HOST_NOT_ALLOWED", details={"host": header[:80]})
        if request.method not in STATE_CHANGING:
            return
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site.lower() not in SAME_ORIGIN_FETCH:
            raise RxlaneError("CROSS_ORIGIN_REFUSED", details={"sec_fetch_site": site[:40]})
        origin = request.headers.get("Origin")
        if origin is not None:
            own = f"{request.scheme}://{request.host}".lower()
            if origin.rstrip("/").lower() not in (own, *origins):
                raise RxlaneError("CROSS_ORIGIN_REFUSED", details={"origin": origin[:120]})

    @app.before_request
    def _authenticate() -> ResponseBase | None:
        g.pii, g.terminal, g.caller = False, "local", "local"
        loopback = bool(app.config["RXLANE_LOOPBACK"])
        scope = _needed_scope(request.path, request.method, loopback)
        if request.path == "/" and request.method == "GET" and request.args.get("token"):
            return _page_login(request.args["token"])
        header = request.headers.get("Authorization", "")
        if scope is None and not header:
            return None
        if header and not header.startswith("Bearer "):
            raise RxlaneError("UNAUTHORIZED")
        secret = header[7:].strip() if header else request.cookies.get(COOKIE)
        token = None
        if secret is not None:
            token = tokens.lookup(current_app.extensions["rxlane"].ledger, secret)
            if token is None:
                raise RxlaneError("UNAUTHORIZED")
        elif required or not loopback:
            raise RxlaneError("UNAUTHORIZED")
        if token is not None:
            if scope not in (None, "any") and scope not in token.scopes:
                raise RxlaneError("FORBIDDEN", details={"needs": scope})
            g.terminal, g.caller = token.terminal, f"token:{token.id}"
            g.pii = "pii" in token.scopes
            if g.pii and request.path.startswith(PII_PATHS):
                current_app.extensions["rxlane"].ledger.audit.append(
                    "pii_access", None, {"terminal": token.terminal, "token_id": token.id,
                                         "method": request.method, "path": request.path[:120],
                                         "request_id": getattr(g, "request_id", "")})
        if request.path == "/v1/patients/identify":
            limiter.check(g.terminal)
        return None


def _page_login(secret: str) -> ResponseBase:
    """``/?token=…``: the counter page's way in beyond loopback. The token becomes a cookie the page's own calls
    carry (HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it), then the address bar
    loses it."""
    token = tokens.lookup(current_app.extensions["rxlane"].ledger, secret.strip())
    if token is None:
        raise RxlaneError("UNAUTHORIZED")
    resp = redirect("/", code=303)
    resp.set_cookie(COOKIE, secret.strip(), httponly=True, samesite="Strict", path="/",
                    secure=request.scheme == "https")
    return resp
