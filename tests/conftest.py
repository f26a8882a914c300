"""Shared fixtures: real things on free loopback ports — the sandbox insurer, the service, an HTTP client."""
from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server

from plugin.config import load_settings
from plugin.logs import configure_logging
from tests.store_setup import PHARMACISTS, ready_for_uploads  # noqa: F401 — fixtures and tests import them here

# Every log line the suite writes goes to one file as well; at the end of the session the log scrubber reads it
# and fails the run if an unmasked ID number appears (docs/security.md, 个人信息保护法).
SESSION_LOG = Path(os.environ.get("RXLANE_TEST_LOG", tempfile.gettempdir())) / f"rxlane-tests-{os.getpid()}.jsonl"
configure_logging(stream=open(SESSION_LOG, "w", encoding="utf-8"))  # noqa: SIM115 — lives for the session


class Http:
    """A tiny JSON client bound to one base URL (tests read answers as the POS would)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.session = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=30, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.base + path, json=json, timeout=30, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.session.put(self.base + path, json=json, timeout=30, **kw)


class ServerThread:
    def __init__(self, app: Any):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sandbox() -> Iterator[Any]:
    from adapters.sandbox.server import start_sandbox
    sb = start_sandbox("127.0.0.1", 0, demo=True, policy="jiangxi")
    yield sb
    sb.shutdown()


@pytest.fixture
def sandbox_http(sandbox) -> Http:
    return Http(sandbox.url)


def install_demo_list(svc: Any) -> None:
    from plugin.demo import install_demo_list as install
    install(svc)


def make_service(data_dir: Path, gateway_url: str, **sections: Any):
    from plugin.service import build_service
    overrides: dict[str, Any] = {"server": {"data_dir": str(data_dir)}, "nhsa": {"url": gateway_url,
                                                                                 "timeout_s": 3},
                                 "pharmacists": PHARMACISTS}
    for section, values in sections.items():
        if isinstance(values, list):
            overrides[section] = values
        else:
            overrides.setdefault(section, {}).update(values)
    settings = load_settings(None, environ={}, overrides=overrides)
    return build_service(settings)


@pytest.fixture
def service_factory(tmp_path, sandbox):
    """Start rxlane (real HTTP) against the sandbox; call again with the same data dir to 'restart' it."""
    from plugin.app import create_app
    running: list[tuple[Any, ServerThread]] = []

    def start(data_dir: Path | None = None, **sections: Any) -> tuple[Any, Http]:
        svc = make_service(data_dir or tmp_path / "data", sandbox.url, **sections)
        install_demo_list(svc)   # the demo drugs' list, as `rxlane serve` installs it with the embedded demo
        ready_for_uploads(svc)
        svc.extras["heartbeat_s"] = 0.5
        if svc.devices is not None:
            svc.devices.start()
        server = ServerThread(create_app(svc))
        running.append((svc, server))
        return svc, Http(server.url)

    yield start
    for svc, server in running:
        svc.extras.setdefault("stopping", threading.Event()).set()
        server.stop()
        try:
            svc.close()
        except Exception:
            pass


@pytest.fixture
def rx(service_factory):
    """(service, http client) of one running rxlane."""
    return service_factory()


_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def unmasked_id_numbers(text: str) -> list[str]:
    """18-character strings with a valid resident-ID checksum (masked ones have '*' and never match)."""
    from plugin.credentials import valid_id_number
    return sorted({m for m in _ID_NUMBER.findall(text) if valid_id_number(m.upper())})


def pytest_sessionfinish(session, exitstatus):
    if not SESSION_LOG.exists():
        return
    leaks = unmasked_id_numbers(SESSION_LOG.read_text("utf-8", errors="replace"))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"log scrubber: {SESSION_LOG.stat().st_size} bytes of logs checked, "
                            f"{len(leaks)} unmasked ID number(s)")
    if leaks:
        session.exitstatus = 1
