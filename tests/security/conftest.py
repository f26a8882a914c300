"""Hostile-input fixtures: one real rxlane + real sandbox shared by a module, and the checks every answer must pass.

A shared service keeps the fuzzers fast (thousands of requests, one start-up). Tests that count ledger rows or arm
sandbox faults use the function-scoped ``rx`` / ``sandbox_http`` of tests/conftest.py instead, so nothing another
test did can hide a half-written row.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest

from tests.conftest import Http, ServerThread, install_demo_list, make_service
from tests.e2e.conftest import OSIMERTINIB, PERSONS, ZHANG, new_sale

# What an answer may never contain, whatever the input.
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "werkzeug.exceptions", "sqlite3.")
# X-Request-Id as rxlane stamps it: echoed only when it is this safe, else a fresh hex id.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass
class Tally:
    """How many hostile requests a session sent, by test, so a run can say what it actually covered."""
    by_test: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.by_test[name] = self.by_test.get(name, 0) + n

    @property
    def total(self) -> int:
        return sum(self.by_test.values())


_TALLY = Tally()


@pytest.fixture(scope="session")
def hostile_tally() -> Iterator[Tally]:
    yield _TALLY
    if _TALLY.total:
        parts = ", ".join(f"{k}={v}" for k, v in sorted(_TALLY.by_test.items()))
        print(f"\nhostile: {_TALLY.total} requests ({parts})")


# The identify rate limit (docs/security.md) is tested elsewhere; fuzzers identify hundreds of times a minute.
UNLIMITED = {"identify_per_minute": 10000}


@pytest.fixture
def zhang(rx) -> str:
    from tests.e2e.conftest import identify
    return identify(rx[1])["patient_ref"]


@dataclass
class Live:
    """A running rxlane and its sandbox insurer."""
    svc: Any
    http: Http
    sandbox: Any
    sandbox_http: Http

    @property
    def base(self) -> str:
        return self.http.base


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    from adapters.sandbox.server import start_sandbox
    from plugin.app import create_app
    sb = start_sandbox("127.0.0.1", 0, demo=True, policy="jiangxi")
    svc = make_service(tmp_path_factory.mktemp("hostile") / "data", sb.url, server=UNLIMITED)
    install_demo_list(svc)   # drug facts come from the store's list, as `rxlane serve` installs it with the demo
    svc.extras["heartbeat_s"] = 0.2
    server = ServerThread(create_app(svc))
    try:
        yield Live(svc, Http(server.url), sb, Http(sb.url))
    finally:
        svc.extras.setdefault("stopping", threading.Event()).set()
        server.stop()
        try:
            svc.close()
        finally:
            sb.shutdown()


_rx_serial = itertools.count(1)


def fresh_rx(sandbox_http: Http, person: dict = ZHANG, med: str = OSIMERTINIB, qty: str = "1", *,
             institution: str = "H36011100301", physician: str = "D360111003001") -> str:
    """Circulate one more prescription of ``med`` for ``person`` at the sandbox (by default 张伟's 奥希替尼 from his
    filed hospital and responsible physician) and answer its hi_rxno. A module-wide service sells many times: a
    prescription once dispensed cannot be sold again, so each sale gets its own. The prescription time is unique
    too, since rxlane recognises a prescription it already downloaded by institution and time."""
    n = next(_rx_serial)
    hi_rxno = f"HXS{n:019d}"
    r = sandbox_http.post("/sandbox/prescriptions", {
        "hi_rxno": hi_rxno, "psn_no": person["psn_no"], "institution_code": institution, "physician_code": physician,
        "issued_at": f"{date.today().isoformat()} 00:{n // 60 % 60:02d}:{n % 60:02d}", "valid_days": 3,
        "lines": [{"med_list_codg": med, "qty": qty}]})
    assert r.status_code in (200, 201), r.text
    return hi_rxno


def sale_on_fresh_rx(http: Http, sandbox_http: Http, ref: str, **kw: Any) -> dict:
    """A draft sale of 张伟's 奥希替尼 on a prescription of its own (``fresh_rx``), downloaded as the counter does."""
    return new_sale(http, ref, rx=fresh_rx(sandbox_http), **kw)


def demo_secrets(sandbox: Any = None) -> list[tuple[str, str, str]]:
    """(person, what, value) for every unmasked personal value the demo insurer knows: ID number, card number and
    identification code, e-voucher QR value, insurance number — and, given the sandbox, every e-voucher token its
    decode service has issued so far (tokens are fresh per decode)."""
    out = []
    for name, p in PERSONS.items():
        for what in ("certno", "card_no", "card_sn", "ecard_qr", "psn_no"):
            out.append((name, what, p[what]))
    if sandbox is not None:
        names = {p["psn_no"]: name for name, p in PERSONS.items()}
        for token in list(sandbox.books.ec_tokens.values()):
            out.append((names.get(token.psn_no, token.psn_no), "ecToken", token.token))
    return out


def assert_sane(resp: Any, *, where: str = "") -> None:
    """The bar every answer meets: no 5xx (503 UPSTREAM_UNAVAILABLE aside), no traceback, errors in our shape,
    and a safe X-Request-Id."""
    label = where or f"{resp.request.method} {resp.request.url}"
    text = resp.content.decode("utf-8", "replace")
    assert resp.status_code < 500 or _is_documented_unavailable(resp), \
        f"{label}: HTTP {resp.status_code}: {text[:500]}"
    for marker in TRACEBACK_MARKERS:
        assert marker not in text, f"{label}: answer leaks internals ({marker!r}): {text[:500]}"
    rid = header(resp, "X-Request-Id")
    assert SAFE_REQUEST_ID.match(rid), f"{label}: unsafe X-Request-Id {rid!r}"
    if resp.status_code >= 400:
        assert_error_shape(resp, label)


def header(resp: Any, name: str) -> str:
    """One header of a requests or schemathesis response (the latter maps lower-case names to lists)."""
    value = resp.headers.get(name)
    if value is None:
        value = resp.headers.get(name.lower())
    if isinstance(value, list):
        value = value[0] if value else None
    return value or ""


def _is_documented_unavailable(resp: Any) -> bool:
    if resp.status_code not in (502, 503):
        return False
    try:
        code = resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code in ("UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED")


def assert_error_shape(resp: Any, label: str = "") -> dict[str, Any]:
    from plugin.errors import ERRORS, REASONS
    ctype = header(resp, "Content-Type")
    assert ctype.startswith("application/json"), f"{label}: error answer is {ctype!r}: {resp.content[:300]!r}"
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"{label}: error answer is not JSON: {resp.content[:300]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error"}, f"{label}: not an error object: {body!r}"[:600]
    err = body["error"]
    assert set(err) == {"code", "message", "message_zh", "details"}, f"{label}: error keys {sorted(err)}"
    assert err["code"] in ERRORS or err["code"] in REASONS, f"{label}: unknown code {err['code']!r}"
    assert isinstance(err["message"], str) and err["message"], label
    assert isinstance(err["message_zh"], str) and err["message_zh"], label
    assert isinstance(err["details"], dict), label
    assert err["code"] != "INTERNAL", f"{label}: INTERNAL error: {body}"
    return err


def assert_no_pii(text: str, label: str, *, secrets: list[tuple[str, str, str]] | None = None) -> None:
    for person, what, value in secrets if secrets is not None else demo_secrets():
        assert value not in text, f"{label}: unmasked {what} of {person} in the answer: {text[:400]}"


def ledger_counts(svc: Any) -> dict[str, int]:
    """Rows of every ledger table, to prove a refused request wrote nothing half-way."""
    names = [r[0] for r in svc.ledger.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
    return {n: svc.ledger.query_one(f'SELECT count(*) FROM "{n}"')[0] for n in names}


def json_text(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


ROOT = Path(__file__).resolve().parents[2]
