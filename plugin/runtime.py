"""Which insurer gateway this ledger is served against, so that offline commands can never deliver to another
(docs/reconciliation.md, "Offline commands").

``rxlane serve`` writes ``service.json`` (0600) in its data directory at start: its pid, the gateway it uses (the
configured URL, ``dll:<library>``, or ``sandbox`` for the embedded insurer), the address messages go to, the profile
and the pharmacy; a clean stop clears the pid and keeps the rest — the record of what the ledger was last served
against. One process owns a data directory at a time (plugin/datadir.py): an offline command that sends
(``rxlane outbox --retry``, ``reconcile``, ``doctor --resolve``, ``catalog sync``) is refused beside a running
service, whose own loop does that work. Otherwise it asks ``offline_gateway``:

- embedded sandbox → ``GATEWAY_NOT_RUNNING``: the sandbox that holds this ledger's settlements lives inside the
  service; any other sandbox on that port is not it;
- a configured gateway → that gateway, unless the ledger was last served against another gateway, profile or
  pharmacy (``GATEWAY_MISMATCH``, nothing sent).

Every such command prints the gateway it used and why.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from plugin.errors import RxlaneError

RUNTIME_FILE = "service.json"
SANDBOX = "sandbox"


@dataclass(frozen=True)
class Running:
    pid: int | None
    gateway: str          # identity: a URL, "dll:<path>", or "sandbox"
    url: str              # where messages go now
    profile: str
    fixmedins_code: str
    started_at: str


@dataclass(frozen=True)
class GatewayTarget:
    """Where an offline command would send (``url`` None: nowhere — ``error`` says why)."""
    url: str | None
    gateway: str
    profile: str
    source: str
    error: RxlaneError | None = None

    def describe(self) -> dict[str, Any]:
        out = {"url": self.url, "gateway": self.gateway, "profile": self.profile, "source": self.source}
        if self.error is not None:
            out["error"] = self.error.code
        return out

    def required(self) -> str | None:
        """The URL, or the reason there is none raised."""
        if self.error is not None:
            raise self.error
        return self.url


def identity(settings: Any) -> str:
    """The gateway a configuration names."""
    if settings.nhsa.transport == "dll":
        return f"dll:{settings.nhsa.dll_path}"
    return settings.nhsa.url or SANDBOX


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / RUNTIME_FILE


def write(data_dir: Path, running: Running) -> None:
    """Atomically, readable only by the service's user."""
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(running), fh, ensure_ascii=False)
    os.replace(tmp, path)


def started(data_dir: Path, settings: Any, url: str) -> None:
    write(data_dir, Running(pid=os.getpid(), gateway=identity(settings), url=url, profile=settings.nhsa.profile,
                            fixmedins_code=settings.store.fixmedins_code,
                            started_at=datetime.now().isoformat(sep=" ", timespec="seconds")))


def stopped(data_dir: Path) -> None:
    running = read(data_dir)
    if running is not None and running.pid == os.getpid():
        write(data_dir, Running(**{**asdict(running), "pid": None}))


def read(data_dir: Path) -> Running | None:
    try:
        data = json.loads(_path(data_dir).read_text("utf-8"))
        return Running(pid=int(data["pid"]) if data.get("pid") else None, gateway=str(data["gateway"]),
                       url=str(data["url"]), profile=str(data["profile"]), fixmedins_code=str(data["fixmedins_code"]),
                       started_at=str(data.get("started_at") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def offline_gateway(settings: Any, data_dir: Path, running: dict[str, Any] | None = None) -> GatewayTarget:
    """Where an offline command with these settings may send (module docstring). ``running``: what the service
    owning the data directory said of itself (plugin/datadir.py ``in_use``) — then it is the one that sends."""
    mine, profile = identity(settings), settings.nhsa.profile
    record = read(data_dir)
    if running is not None:
        served = record.gateway if record is not None else mine
        return GatewayTarget(record.url if record is not None else None, served, profile,
                             f"the running service (pid {running.get('pid', '?')}) sends; this command does not")
    if mine == SANDBOX:
        return GatewayTarget(None, mine, profile, "the embedded sandbox, which runs only inside the service",
                             RxlaneError("GATEWAY_NOT_RUNNING"))
    if record is not None and (record.gateway, record.profile, record.fixmedins_code) != (
            mine, profile, settings.store.fixmedins_code):
        return GatewayTarget(None, mine, profile, f"the ledger was last served against {record.gateway} "
                             f"({record.profile}, {record.fixmedins_code})", _mismatch(record, mine, profile, settings))
    url = settings.nhsa.url or (mine if mine.startswith("dll:") else None)
    return GatewayTarget(url, mine, profile, "the configuration (no service is running)")


def _mismatch(running: Running, mine: str, profile: str, settings: Any) -> RxlaneError:
    return RxlaneError("GATEWAY_MISMATCH", details={
        "service": {"gateway": running.gateway, "profile": running.profile, "fixmedins_code": running.fixmedins_code,
                    "pid": running.pid},
        "command": {"gateway": mine, "profile": profile, "fixmedins_code": settings.store.fixmedins_code}})
