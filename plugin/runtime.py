"""Which insurer gateway this ledger is served against, so that offline commands can never deliver to another
(docs/reconciliation.md, "Offline commands").

``rxlane serve`` writes ``service.json`` (0600) in its data directory at start: its pid, the gateway it uses (the
configured URL, ``dll:<library>``, or ``sandbox`` for the embedded insurer), the address messages go to now, the
profile and the pharmacy; at a clean stop it clears the pid and keeps the rest — the record of what the ledger was
last served against. An offline command that sends (``rxlane outbox --retry``, ``reconcile``, ``doctor --resolve``,
``catalog sync``) asks ``offline_gateway``:

- a live service → the command sends where the service sends, provided its own configuration names the same
  gateway, profile and pharmacy (else ``GATEWAY_MISMATCH``, nothing sent);
- no live service, embedded sandbox → ``GATEWAY_NOT_RUNNING`` (the sandbox lives inside the service: any other
  sandbox on that port is not the one that holds this ledger's settlements);
- no live service, a configured gateway → that gateway, unless the ledger was last served against another one
  (``GATEWAY_MISMATCH``).

Every such command prints the gateway it used and why.
"""
from __future__ import annotations

import json
import os
import sys
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


def alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False
    if sys.platform == "win32":
        import ctypes
        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)   # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259   # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # another user's process: alive
    return True


def offline_gateway(settings: Any, data_dir: Path) -> GatewayTarget:
    """Where an offline command with these settings may send (module docstring)."""
    mine, profile = identity(settings), settings.nhsa.profile
    running = read(data_dir)
    if running is not None and alive(running.pid):
        if (running.gateway, running.profile, running.fixmedins_code) != (mine, profile,
                                                                           settings.store.fixmedins_code):
            return GatewayTarget(None, mine, profile, f"the running service (pid {running.pid}) uses "
                                 f"{running.gateway} ({running.profile}, {running.fixmedins_code})",
                                 _mismatch(running, mine, profile, settings))
        return GatewayTarget(running.url, mine, profile, f"the running service (pid {running.pid})")
    if mine == SANDBOX:
        return GatewayTarget(None, mine, profile, "the embedded sandbox, which runs only inside the service",
                             RxlaneError("GATEWAY_NOT_RUNNING"))
    if running is not None and running.gateway != mine:
        return GatewayTarget(None, mine, profile, f"the ledger was last served against {running.gateway}",
                             _mismatch(running, mine, profile, settings))
    url = settings.nhsa.url or (mine if mine.startswith("dll:") else None)
    return GatewayTarget(url, mine, profile, "the configuration (no service is running)")


def _mismatch(running: Running, mine: str, profile: str, settings: Any) -> RxlaneError:
    return RxlaneError("GATEWAY_MISMATCH", details={
        "service": {"gateway": running.gateway, "profile": running.profile, "fixmedins_code": running.fixmedins_code,
                    "pid": running.pid},
        "command": {"gateway": mine, "profile": profile, "fixmedins_code": settings.store.fixmedins_code}})
