"""Clocks a counter PC has (docs/reliability.md, "Clocks"): one that disagrees with the insurer's shows in health;
one that jumps back never reuses or reorders msgids, not even across a restart; the nightly reconciliation survives
a jump forward that is then put right."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from collections.abc import Iterator

import pytest

from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.books import Books
from adapters.sandbox.demo import load_demo
from adapters.sandbox.server import SandboxServer, create_sandbox_app
from plugin.reconcile import run_if_due
from plugin.store import audit as audit_module
from tests.conftest import make_service
from tests.e2e.conftest import fresh_prescription, identify, new_sale

CODE = "P36010200001"


@pytest.fixture
def insurer_ahead() -> Iterator[SandboxServer]:
    """An insurer whose answers say it is ten minutes later than this PC thinks."""
    books = Books(resolve_policy("jiangxi"), clock=lambda: datetime.now() + timedelta(minutes=10))
    load_demo(books)
    server = SandboxServer(create_sandbox_app(books), "127.0.0.1", 0).start()
    yield server
    server.shutdown()


def _health(svc: Any) -> dict:
    from plugin.api.health import health_report
    return health_report(svc)


def test_a_clock_ten_minutes_off_the_insurers_shows_in_health(insurer_ahead, tmp_path):
    svc = make_service(tmp_path / "data", insurer_ahead.url)
    try:
        svc.catalog.sync()                                     # any answer carries the insurer's time
        health = _health(svc)
        assert "clock_skew" in health["problems"] and health["status"] == "degraded"
        assert -660 < health["clock"]["skew_s"] < -540       # ours is behind theirs by ~600 s
    finally:
        svc.close()


def test_a_clock_within_the_setting_is_no_problem(insurer_ahead, tmp_path):
    svc = make_service(tmp_path / "data", insurer_ahead.url, nhsa={"clock_skew_max_s": 900})
    try:
        svc.catalog.sync()                                     # any answer carries the insurer's time
        assert "clock_skew" not in _health(svc)["problems"]
    finally:
        svc.close()


def test_after_the_clock_jumps_back_an_hour_and_the_service_restarts_msgids_stay_unique_and_ordered(
        service_factory, sandbox_http, tmp_path, monkeypatch):
    data = tmp_path / "data"
    svc, http = service_factory(data)
    ref = identify(http)["patient_ref"]
    first = new_sale(http, ref)
    assert http.post(f"/v1/sales/{first['id']}/settle").status_code == 200
    before = sorted(j["msgid"] for j in http.get(f"/v1/sales/{first['id']}").json()["journal"])
    svc.recovery.stop()
    # the PC's clock is set back an hour; the service is restarted on the same ledger
    from adapters.nhsa import envelope
    real = datetime.now
    monkeypatch.setattr(envelope, "datetime", type("Clock", (datetime,), {"now": staticmethod(
        lambda tz=None: real(tz) - timedelta(hours=1))}))
    svc2, http2 = service_factory(data)
    second = new_sale(http2, identify(http2)["patient_ref"], rx=fresh_prescription(sandbox_http))
    assert http2.post(f"/v1/sales/{second['id']}/settle").status_code == 200
    after = sorted(j["msgid"] for j in http2.get(f"/v1/sales/{second['id']}").json()["journal"])
    assert min(after) > max(before), (before, after)
    assert len(set(before + after)) == len(before + after)


def test_the_nightly_reconciliation_still_runs_after_a_forward_clock_jump_is_put_right(rx, monkeypatch):
    svc, _ = rx
    real = datetime.now()
    if real.hour == 23 and real.minute > 50:
        pytest.skip("needs today's slot to stay today for a few minutes")
    false = real + timedelta(days=10)
    # the clock jumped ten days ahead: the schedule runs (for a day that has not come) and stamps the trail
    monkeypatch.setattr(audit_module, "now", lambda: false.isoformat(sep=" ", timespec="seconds"))
    run_if_due(svc, false, "00:00")
    monkeypatch.undo()
    # put right: tonight's reconciliation must run, not wait ten days for the false date
    report = run_if_due(svc, real, "00:00")
    assert report is not None and report["date"] == real.date().isoformat(), report
    assert run_if_due(svc, real, "00:00") is None        # and only once
