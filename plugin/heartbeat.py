"""Push this store's health to headquarters, for stores behind NAT that HQ cannot poll.

Two ways, both in the background, never in the way of the counter:

* ``[hq] heartbeat_url`` (the first version): the `GET /v1/health` JSON is POSTed every ``heartbeat_s``; a failed
  push is only logged (`Heartbeat`).
* ``[hq] url`` + ``[hq] token`` (docs/hq.md): `HqLink`, in its own thread, speaks HQ's protocol — each heartbeat is
  numbered (``seq``, kept in the data dir by plugin/heartbeat_state.py) and kept until HQ acknowledges it, so a store
  that was offline sends what it missed, in order; the previous month's report is pushed (again when its figures
  change); and the dual-channel list HQ publishes is pulled when its version differs from the installed one,
  checked against its sha256 and installed all-or-nothing (plugin/dclist), its version reported in the next beat.
"""
from __future__ import annotations

import hashlib
import json
import random
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import Callable

import requests

from plugin.heartbeat_state import LinkState
from plugin.logs import get_logger
from plugin.retry import HEARTBEAT

log = get_logger("rxlane.heartbeat")


class Heartbeat:
    def __init__(self, url: str, every_s: float, report: Callable[[], dict[str, Any]],
                 session: requests.Session | None = None, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.every_s = every_s
        self.report = report
        self.session = session or requests.Session()
        self.clock = clock
        self._last: float | None = None
        self._wait = every_s
        self.failures = 0
        self.sent = 0

    def beat_if_due(self) -> bool:
        """Send one heartbeat when due; after failures the next is due per the shared heartbeat retry policy
        (plugin/retry.py) once that is longer than the period."""
        if not self.url or (self._last is not None and self.clock() - self._last < self._wait):
            return False
        self._last = self.clock()
        try:
            resp = self.session.post(self.url, json=self.report(), timeout=5)
            resp.raise_for_status()
        except requests.RequestException as exc:
            self.failures += 1
            self._wait = max(self.every_s, HEARTBEAT.delay(self.failures))
            log.warning("heartbeat failed", error=type(exc).__name__, retry_in_s=round(self._wait))
            return False
        self.failures, self._wait = 0, self.every_s
        self.sent += 1
        return True


def previous_month(today: date) -> str:
    first = today.replace(day=1)
    return f"{first.year - (first.month == 1)}-{(first.month - 2) % 12 + 1:02d}"


def _error_code(resp: requests.Response) -> tuple[str, dict[str, Any]]:
    try:
        error = resp.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", {}
    details = error.get("details")
    return str(error.get("code") or ""), details if isinstance(details, dict) else {}


@dataclass
class BeatResult:
    """What one round did (tests and logs)."""

    delivered: list[int] = field(default_factory=list)
    pending: int = 0
    refused: str = ""                       # the code that stopped delivery (STORE_REVOKED…), or ""
    unreachable: bool = False
    list_installed: str | None = None       # the version installed this round
    list_error: str | None = None
    reports_pushed: list[str] = field(default_factory=list)


class HqLink:
    """The store's link to HQ (see the module docstring). ``beat()`` runs one round; ``start()`` a thread."""

    def __init__(self, *, url: str, token: str, store_id: str, data_dir: str | Path, list_target: Path,
                 health: Callable[[], dict[str, Any]], monthly: Callable[[str], dict[str, Any]] | None = None,
                 every_s: float = 300, backlog_max: int = 288, timeout_s: float = 10,
                 session: requests.Session | None = None, today: Callable[[], date] = date.today,
                 report_check_s: float = 3600):
        self.url = url.rstrip("/")
        self.store_id = store_id
        self.list_target = Path(list_target)
        self.health = health
        self.monthly = monthly
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.today = today
        self.report_check_s = report_check_s
        self.state = LinkState(data_dir, backlog_max)
        self.session = session or requests.Session()
        self.session.trust_env = False
        self.session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "rxlane-store"})
        self.list_error: str | None = None
        self._reports_checked: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- one round ----------------------------------------------------------------------------------------------

    def beat(self) -> BeatResult:
        with self._lock:
            result = BeatResult()
            body = {**self.health(), "store_id": self.store_id,
                    "sent_at": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
                    "dual_channel_list": self._list_info()}
            self.state.enqueue(body)
            self.state.save()
            answer = self._deliver(result)
            self.state.save()
            result.pending = len(self.state.backlog)
            if answer is not None and isinstance(answer.get("catalog"), dict):
                self._pull_list(answer["catalog"], result)
            if answer is not None and self.monthly is not None:
                self._push_reports(result, self.monthly)
            return result

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(self.url + path, json=body, timeout=(min(5.0, self.timeout_s), self.timeout_s),
                                 allow_redirects=False)

    def _deliver(self, result: BeatResult) -> dict[str, Any] | None:
        """Send waiting heartbeats oldest first; returns HQ's last answer (None when nothing got through)."""
        answer = None
        for _ in range(2 * len(self.state.backlog) + 2):
            if not self.state.backlog:
                break
            entry = self.state.backlog[0]
            try:
                resp = self._post("/v1/hq/heartbeats", entry)
            except requests.RequestException as exc:
                log.warning("hq heartbeat not delivered", error=type(exc).__name__, pending=len(self.state.backlog))
                result.unreachable = True
                return answer
            code, details = _error_code(resp) if resp.status_code >= 400 else ("", {})
            if resp.status_code == 200:
                self.state.delivered(entry["seq"])
                result.delivered.append(entry["seq"])
                try:
                    answer = resp.json()
                except ValueError:
                    answer = {}
            elif code == "HEARTBEAT_REPLAYED" and details.get("same_body"):
                self.state.delivered(entry["seq"])          # HQ had it; its answer was lost on the way back
            elif code in ("HEARTBEAT_REPLAYED", "HEARTBEAT_OUT_OF_ORDER") and isinstance(details.get("last_seq"),
                                                                                         int):
                log.warning("hq has newer heartbeats from this store; numbering on", last_seq=details["last_seq"])
                self.state.resume_after(details["last_seq"])
            elif resp.status_code in (400, 413):
                log.warning("hq refused a heartbeat for good; dropped", code=code, seq=entry["seq"])
                self.state.drop(entry["seq"])
            else:
                result.refused = code or f"HTTP {resp.status_code}"
                log.warning("hq refused the heartbeat", code=result.refused)
                return answer
        return answer

    # -- the dual-channel list ------------------------------------------------------------------------------------

    def _installed_version(self) -> tuple[str | None, Any]:
        from plugin.dclist import parse_document
        try:
            data = self.list_target.read_bytes()
        except OSError:
            return None, None
        try:
            return hashlib.sha256(data).hexdigest(), parse_document(data)
        except Exception:  # noqa: BLE001 — a damaged installed list is reported, never fatal to the heartbeat
            return hashlib.sha256(data).hexdigest(), None

    def _list_info(self) -> dict[str, Any]:
        version, installed = self._installed_version()
        meta = installed.meta if installed is not None else None
        return {"version": version, "rows": len(installed) if installed is not None else None,
                "source": meta.source if meta else None,
                "publication_date": meta.publication_date.isoformat() if meta and meta.publication_date else None,
                "error": self.list_error}

    def _pull_list(self, head: dict[str, Any], result: BeatResult) -> None:
        from plugin.errors import RxlaneError
        from plugin.dclist import install_document
        wanted = head.get("version")
        if not isinstance(wanted, str) or self._installed_version()[0] == wanted:
            return
        try:
            resp = self.session.get(self.url + "/v1/hq/catalog", timeout=(5, max(30.0, self.timeout_s)),
                                    allow_redirects=False)
            if resp.status_code != 200:
                raise ValueError(f"HQ answered {resp.status_code} {_error_code(resp)[0]}")
            payload = resp.json()
            document = payload["document"].encode("utf-8")
            digest = hashlib.sha256(document).hexdigest()
            if digest != wanted or payload.get("sha256") != wanted:
                raise ValueError(f"the downloaded list's sha256 {digest[:12]}… is not the published {wanted[:12]}…")
            install_document(self.list_target, document)
        except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError, RxlaneError,
                OSError) as exc:
            self.list_error = f"{wanted[:12]}: {exc}"[:300]
            result.list_error = self.list_error
            log.warning("dual-channel list from hq not installed", error=self.list_error)
            return
        self.list_error = None
        result.list_installed = wanted
        log.info("dual-channel list from hq installed", version=wanted[:12])

    # -- monthly reports ------------------------------------------------------------------------------------------

    def _push_reports(self, result: BeatResult, monthly: Callable[[str], dict[str, Any]]) -> None:
        now = time.monotonic()
        if self._reports_checked is not None and now - self._reports_checked < self.report_check_s:
            return
        self._reports_checked = now
        month = previous_month(self.today())
        try:
            report = monthly(month)
        except Exception as exc:  # noqa: BLE001 — a report that cannot be built is retried next hour, never fatal
            log.warning("monthly report for hq not built", month=month, error=type(exc).__name__)
            return
        digest = hashlib.sha256(json.dumps(report, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                                .encode("utf-8")).hexdigest()
        if self.state.reports.get(month) == digest:
            return
        try:
            resp = self._post("/v1/hq/reports", report)
        except requests.RequestException as exc:
            log.warning("monthly report not delivered", month=month, error=type(exc).__name__)
            self._reports_checked = None
            return
        code = _error_code(resp)[0] if resp.status_code >= 400 else ""
        if resp.status_code in (200, 201) or code == "REPORT_CONFLICT":
            self.state.reports[month] = digest
            self.state.save()
            result.reports_pushed.append(month)
        else:
            log.warning("monthly report refused by hq", month=month, code=code or resp.status_code)

    # -- the thread -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        # thousands of stores restarted together (a rollout, a power cut) must not beat in step
        if self._stop.wait(random.uniform(1, min(30.0, self.every_s))):
            return
        failures = 0
        while not self._stop.is_set():
            try:
                result = self.beat()
                failures = failures + 1 if (result.unreachable or result.refused) and not result.delivered else 0
            except Exception:  # noqa: BLE001 — the link must outlive any one bad round; the counter never notices
                log.exception("hq link round failed")
                failures += 1
            self._stop.wait(next_wait(self.every_s, failures))

    def start(self) -> HqLink:
        self._thread = threading.Thread(target=self._run, name="rxlane-hq-link", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def next_wait(every_s: float, failures: int) -> float:
    """Seconds to the HQ link's next round: the heartbeat period (±10 %), or — after ``failures`` rounds in a row
    that HQ did not take — the shared heartbeat retry policy's backoff once it is longer (plugin/retry.py), so a
    fleet coming back after an HQ outage does not knock on HQ together. Heartbeats keep queuing meanwhile and go in
    order later."""
    normal = every_s * random.uniform(0.9, 1.1)
    return max(normal, HEARTBEAT.delay(failures)) if failures else normal


def hq_token(settings: Any) -> str:
    """``[hq] token`` (from RXLANE_HQ__TOKEN), else the first line of ``[hq] token_file``, which must be 0600."""
    if settings.hq.token:
        return settings.hq.token
    path = settings.hq.token_file
    if not path:
        return ""
    try:
        mode = Path(path).stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.error("hq.token_file is readable by other users; not used (chmod 600 it)", path=path)
            return ""
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        log.error("hq.token_file cannot be read", path=path, error=exc.strerror)
        return ""


def start_hq_link(svc: Any) -> HqLink | None:
    """Start the store's link to HQ when ``[hq] url`` is set (called by Service.start_background)."""
    from plugin import reports
    from plugin.api.health import health_report
    from plugin.dclist import installed_path
    from plugin.service import data_dir
    settings = svc.settings
    token = hq_token(settings)
    if not token:
        log.error("[hq] url is set but there is no token (RXLANE_HQ__TOKEN or [hq] token_file); not linking to hq")
        return None
    store = {"fixmedins_code": settings.store.fixmedins_code, "fixmedins_name": settings.store.fixmedins_name,
             "region": settings.store.region}
    directory = data_dir(settings)
    link = HqLink(url=settings.hq.url, token=token, store_id=settings.hq.store_id or settings.store.fixmedins_code,
                  data_dir=directory, list_target=installed_path(directory, settings.catalog.list_file),
                  health=lambda: health_report(svc), monthly=lambda month: reports.monthly(svc.ledger, month, store),
                  every_s=settings.hq.heartbeat_s, backlog_max=settings.hq.backlog_max)
    return link.start()
