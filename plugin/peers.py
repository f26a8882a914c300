"""The store's other counters, as the lead counter asks them for their day's settlements (docs/reconciliation.md,
"One reconciliation per store").

The insurer reconciles a pharmacy (one ``fixmedins_code``), not a counter; each counter keeps its own ledger. So
once a day the lead counter (``[reconcile] peers``) asks every other counter over the store's network for its rows
of the day (``GET /v1/reconciliation/rows``, with the token those counters gave it, scope ``reconcile``) and
reconciles the store's rows together. A counter that does not answer — switched off, wrong address or token, or a
counter of another pharmacy — stops the run before anything reaches the insurer: a partial store would show false
differences. The run is tried again later (plugin/reconcile.py ``RETRY_AFTER``).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date
from typing import Any

import requests

from plugin.errors import RxlaneError
from plugin.store import Ledger

ROWS_PATH = "/v1/reconciliation/rows"
MAX_ROWS = 100_000


LEAD_TERMINAL = "store-lead"


def accept_lead(ledger: Ledger, digest: str) -> None:
    """On a counter that follows a lead: the lead's token (known here only by its SHA-256, ``[reconcile]
    lead_token_sha256``) is an API token with the scope ``reconcile``; a previous lead token is revoked. One secret
    on the lead, its hash — not a secret — in every other counter's configuration."""
    if not digest:
        return
    if ledger.tokens.active(digest) is not None:
        return
    with ledger.transaction() as c:
        for old in ledger.tokens.listing():
            if old["terminal"] == LEAD_TERMINAL and not old["revoked_at"]:
                ledger.tokens.revoke(c, old["id"])
        try:
            ledger.tokens.insert(c, LEAD_TERMINAL, "reconcile", digest)
        except sqlite3.IntegrityError:
            return   # that token was revoked here on purpose: it stays revoked
        ledger.audit.append("token_created", None, {"terminal": LEAD_TERMINAL, "scopes": ["reconcile"]}, conn=c)


def unavailable(url: str, reason: str) -> RxlaneError:
    return RxlaneError("RECONCILE_PEER_UNAVAILABLE", details={"counter": url, "reason": reason})


def gather(urls: Iterable[str], day: date, *, token: str, timeout_s: float,
           fixmedins_code: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """``[(url, rows)]`` of every other counter for ``day``; ``RECONCILE_PEER_UNAVAILABLE`` (naming the counter and
    why) as soon as one cannot give its rows."""
    urls = list(urls)
    if not urls:
        return []
    session = requests.Session()
    session.trust_env = False      # the store's LAN: never through a proxy from the environment
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []
    try:
        for url in urls:
            out.append((url, _rows(session, url, day, headers, timeout_s, fixmedins_code)))
    finally:
        session.close()
    return out


def _rows(session: requests.Session, url: str, day: date, headers: dict[str, str], timeout_s: float,
          fixmedins_code: str) -> list[dict[str, Any]]:
    try:
        r = session.get(url + ROWS_PATH, params={"date": day.isoformat()}, headers=headers, timeout=timeout_s)
    except requests.RequestException as exc:
        raise unavailable(url, type(exc).__name__) from None
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code != 200:
        code = body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) \
            else None
        raise unavailable(url, f"HTTP {r.status_code}" + (f" {code}" if code else ""))
    if not isinstance(body, dict) or not isinstance(body.get("rows"), list) or len(body["rows"]) > MAX_ROWS:
        raise unavailable(url, "not a list of rows")
    if body.get("fixmedins_code") != fixmedins_code:
        raise unavailable(url, "a counter of another pharmacy")
    if body.get("date") != day.isoformat():
        raise unavailable(url, "rows of another day")
    if not all(isinstance(row, dict) for row in body["rows"]):
        raise unavailable(url, "not a list of rows")
    return body["rows"]
