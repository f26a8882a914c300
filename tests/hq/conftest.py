"""HQ fixtures: a real PostgreSQL cluster for the session (Debian's packages), SQLite in a temp dir, and the HQ app
on a free port over either. Stores are enrolled through the real enrolment code; bodies are real health JSON."""
from __future__ import annotations

import itertools
import threading
from typing import Any
from collections.abc import Iterator

import pytest

from plugin.config import load_settings
from tests.conftest import Http, ServerThread
from tests.pgcluster import PgCluster, unavailable

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = unavailable()
    if reason:
        pytest.skip(f"no PostgreSQL for the HQ tests: {reason}")
    cluster = PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return pg_cluster.create_database(f"hq_test_{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hq' / 'hq.sqlite3'}"
    return request.getfixturevalue("pg_url")


class Clock:
    """HQ's clock, moved by the test (a store 'not seen for an hour' without waiting an hour)."""

    def __init__(self, start: float = 1_795_000_000.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def hq_settings(url: str, **hq: Any):
    return load_settings(None, environ={}, overrides={"hq": {"database_url": url, **hq}})


@pytest.fixture
def hq_factory():
    """``start(url, clock=None, **[hq] settings)`` → (Hq, Http) with the HQ app served on a free port."""
    from plugin.hq.app import create_hq_app
    from plugin.hq.service import build_hq
    running: list[tuple[Any, ServerThread]] = []

    def start(url: str, clock: Clock | None = None, **hq: Any):
        service = build_hq(hq_settings(url, **hq), clock=clock or Clock())
        server = ServerThread(create_hq_app(service))
        running.append((service, server))
        return service, Http(server.url)

    yield start
    for service, server in running:
        server.stop()
        service.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hq(hq_factory, db_url, clock):
    """(Hq, Http) on SQLite and on PostgreSQL in turn."""
    return hq_factory(db_url, clock)


def health(status: str = "ok", **overrides: Any) -> dict[str, Any]:
    """A store's /v1/health answer, shaped as plugin/api/health.py writes it (no personal data)."""
    body: dict[str, Any] = {
        "status": status, "problems": [], "version": "0.1.0",
        "store": {"fixmedins_code": "P36010200001", "fixmedins_name": "示例大药房（八一店）", "region": "jiangxi"},
        "ledger": {"ok": True, "schema_version": 9},
        "upstream": {"url": "https://gw.example.cn", "embedded_sandbox": False, "reachable": True, "signed_in": True,
                     "signed_in_at": None, "last_error": None, "last_ok_at": None, "latency_ms": 12.5},
        "outbox": {"pending": 0, "parked": 0, "oldest_age_s": 0}, "in_doubt": 0, "in_doubt_ids": [],
        "devices": [{"name": "scanner-1", "kind": "scanner", "state": "connected", "error": None}],
        "catalog_synced_at": None,
    }
    body.update(overrides)
    return body


def beat(store_id: str, seq: int, status: str = "ok", **overrides: Any) -> dict[str, Any]:
    return {**health(status, **overrides), "store_id": store_id, "seq": seq}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
