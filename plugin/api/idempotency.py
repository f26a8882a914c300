"""Idempotency-Key on writes (docs/pos-integration.md "Retries"; docs/reliability.md "Retries after a crash").

The same caller (its token, or "local" on loopback without one) sending the same key and request gets the first
answer again, even after a restart; another request under the key is ``IDEMPOTENCY_CONFLICT``; another caller's
key is another key — an answer rendered for one token (unmasked for a ``pii`` token) is never replayed to another.
Keys expire after ``[server] idempotency_ttl_h``.

A duplicate arriving while the first is still running in this process waits for it, then answers
``REQUEST_IN_PROGRESS`` ("ask again") rather than block for ever. A claim still ``in_progress`` that no request of
this process is running was interrupted — the process died, or the answer could not be written — and the retry
takes it over: the view's ``recover`` hook answers with what the first attempt did (the sale it created, the sale
it settled) when there is something to show, else the request simply runs again; never ``INVALID_STATE`` for a
retry of one's own request, never a second draft holding the first one's packs.
"""
from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from datetime import timedelta
from typing import Any
from collections.abc import Callable

from flask import Response, current_app, g, request

from plugin.api.render import error_response
from plugin.crashpoints import crash_point
from plugin.errors import InvalidInput, LedgerFault, RxlaneError
from plugin.logs import get_logger
from plugin.store.db import Row
from plugin.store.idempotency import CURRENT_CLAIM, DONE

log = get_logger("rxlane.api")
KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
# Answers that say nothing moved and a retry may succeed (rate limit, insurer refused or away, our own fault, a
# ledger that cannot be written): not remembered under an Idempotency-Key.
FORGET_STATUSES = {429, 500, 502, 503}
WAIT_FOR_FIRST_S = 60.0

#: A view's answer to the retry of an interrupted request: called with the claim row before the view runs
#: (``error`` None: e.g. the sale the first attempt created) and again if the view refuses (``error``: e.g. the
#: sale is already settled — by the first attempt); returns the answer, or None to let things take their course.
Recover = Callable[[Row, "RxlaneError | None", dict[str, Any]], "Response | None"]


class Claims:
    """The keys this process is running a request for; a claim in the ledger that is not here was interrupted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[tuple[str, str]] = set()


def _claims() -> Claims:
    svc = current_app.extensions["rxlane"]
    claims = svc.extras.get("idempotency_claims")
    if claims is None:
        claims = svc.extras.setdefault("idempotency_claims", Claims())
    return claims


def caller() -> str:
    """Whose keys these are: the token's id, or "local" for a loopback call without one (plugin/api/auth.py)."""
    return getattr(g, "caller", "local")


def idempotent(view: Callable[..., Response] | None = None, *,
               recover: Recover | None = None) -> Any:
    """Decorate a write view (``@idempotent`` or ``@idempotent(recover=…)``)."""
    if view is None:
        return lambda v: idempotent(v, recover=recover)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not KEY_RE.match(key):
            raise InvalidInput("Idempotency-Key must be 1–128 characters of letters, digits, '_', '-', '.', ':'.",
                               "幂等键格式不正确。", field="Idempotency-Key")
        svc = current_app.extensions["rxlane"]
        table, claims, who = svc.ledger.idempotency, _claims(), caller()
        ttl = timedelta(hours=svc.settings.server.idempotency_ttl_h)
        digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" +
                                request.get_data(cache=True)).hexdigest()
        mine = (who, key)
        deadline = time.monotonic() + WAIT_FOR_FIRST_S
        interrupted: Row | None = None
        while True:
            with claims.lock:
                row = table.begin(who, key, request.method, request.path, digest, ttl)
                if row is None or (row["state"] != DONE and mine not in claims.running):
                    claims.running.add(mine)
                    interrupted = row
                    break
            if row["body_hash"] != digest:
                raise RxlaneError("IDEMPOTENCY_CONFLICT", details={"key": key})
            if row["state"] == DONE:
                return current_app.response_class(row["response_json"], status=row["status"],
                                                  mimetype="application/json",
                                                  headers={"Idempotent-Replayed": "true"})
            if time.monotonic() > deadline:
                raise RxlaneError("REQUEST_IN_PROGRESS", details={"key": key, "retry_after_s": 5})
            time.sleep(0.05)
        try:
            if interrupted is not None and interrupted["body_hash"] != digest:
                raise RxlaneError("IDEMPOTENCY_CONFLICT", details={"key": key})
            return _run(view, args, kwargs, table, who, key, interrupted, recover)
        finally:
            with claims.lock:
                claims.running.discard(mine)
    return wrapper


def _run(view: Callable[..., Response], args: tuple, kwargs: dict[str, Any], table: Any, who: str, key: str,
         interrupted: Row | None, recover: Recover | None) -> Response:
    token = CURRENT_CLAIM.set((who, key))
    resp: Response | None = None
    try:
        if interrupted is not None and recover is not None:
            resp = recover(interrupted, None, kwargs)
        if resp is None:
            try:
                resp = view(*args, **kwargs)
            except RxlaneError as exc:
                if interrupted is not None and recover is not None:
                    resp = recover(interrupted, exc, kwargs)
                if resp is None:
                    resp = error_response(exc)
            except Exception:
                _quietly(table.forget, who, key)
                raise
        if interrupted is not None and resp.status_code < 400:
            resp.headers["Idempotent-Recovered"] = "true"
    finally:
        CURRENT_CLAIM.reset(token)
    crash_point("idempotency.before_finish")    # done, not yet remembered: the retry must still get its answer
    if resp.status_code in FORGET_STATUSES:
        _quietly(table.forget, who, key)
    else:
        _quietly(table.finish, who, key, resp.status_code, resp.get_data(as_text=True))
    return resp


def _quietly(step: Callable[..., None], *args: Any) -> None:
    """Remembering an answer must not cost the answer: with a full disk the POS still hears what happened (the
    claim stays unfinished; its retry takes it over)."""
    try:
        step(*args)
    except LedgerFault as fault:
        log.warning("idempotency record not written", code=fault.code)
