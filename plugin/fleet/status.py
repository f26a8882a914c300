"""`rxlane fleet status`: ask every store's ``GET /v1/health`` at once and sort the answers into three piles.

* **healthy** — the store answered ``status: ok``;
* **degraded** — it answered, but something needs HQ's attention: an outbox backlog (uploads the insurer has not
  taken), in-doubt sales (money may have moved, docs/architecture.md), a device in error, the insurer unreachable, a
  ledger fault;
* **down** — no usable answer: connection refused, timeout, or an answer that is not rxlane's health JSON.

Polling is bounded (a thread pool of ``concurrency`` workers, each request with a connect and read timeout) so a
thousand counters behind slow links take ``ceil(n / concurrency) × timeout`` at worst, not ``n × timeout``.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Callable, Iterable

import requests

HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"

#: Problem names (health's ``problems`` plus those derived here) → what HQ reads in the table.
PROBLEM_LABELS = {
    "outbox_backlog": "outbox backlog / 上传积压",
    "in_doubt_sales": "in-doubt sales / 结算待核实",
    "device_error": "device error / 设备故障",
    "upstream_unreachable": "insurer unreachable / 医保中心不可达",
    "ledger": "ledger fault / 账本异常",
    "ledger_damaged": "ledger damaged / 账本损坏",
    "ledger_files_lost": "ledger files lost / 账本文件丢失",
    "ledger_write_failed": "ledger write failed (disk?) / 账本写入失败",
    "clock_skew": "clock differs from the insurer's / 本机时钟与医保中心不一致",
    "not_seen": "no heartbeat / 心跳中断",
}
# health.py names a parked outbox `outbox_parked`; HQ sees any stuck upload as one kind of problem.
_ALIASES = {"outbox_parked": "outbox_backlog"}


@dataclass(frozen=True)
class Target:
    store_id: str
    host: str
    port: int = 8600

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}/v1/health"


@dataclass
class StoreHealth:
    store_id: str
    url: str
    state: str                                   # healthy | degraded | down
    problems: list[str] = field(default_factory=list)
    detail: str = ""                             # why down, or a short summary of the answer
    elapsed_ms: float = 0.0
    outbox_pending: int | None = None
    in_doubt: int | None = None
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any) -> float:
    """A count or age from a health answer; anything else (a pushed body is untrusted) counts as 0."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def node(body: dict[str, Any], key: str) -> dict[str, Any]:
    """An object node of a health answer, or an empty one where it is absent or not an object."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def items(body: dict[str, Any], key: str) -> list[Any]:
    """A list node of a health answer, or an empty list where it is absent or not a list."""
    value = body.get(key)
    return value if isinstance(value, list) else []


def classify(body: Any, backlog_age_s: float = 3600) -> tuple[str, list[str]]:
    """(state, problems) from one health answer; raises ValueError when it is not a health answer at all."""
    if not isinstance(body, dict) or body.get("status") not in ("ok", "degraded"):
        raise ValueError("not an rxlane health answer")
    problems = [_ALIASES.get(p, p) for p in items(body, "problems") if isinstance(p, str)]
    outbox = node(body, "outbox")
    if _number(outbox.get("parked")) > 0 or _number(outbox.get("oldest_age_s")) >= backlog_age_s:
        problems.append("outbox_backlog")
    if _number(body.get("in_doubt")) > 0:
        problems.append("in_doubt_sales")
    if any(isinstance(d, dict) and d.get("state") == "error" for d in items(body, "devices")):
        problems.append("device_error")
    upstream = node(body, "upstream")
    if upstream.get("reachable") is False:
        problems.append("upstream_unreachable")
    problems = list(dict.fromkeys(problems))
    return (DEGRADED if problems or body["status"] == "degraded" else HEALTHY), problems


def poll_one(target: Target, timeout: float, backlog_age_s: float = 3600, token: str = "") -> StoreHealth:
    """One store's health. A store bound beyond loopback answers health only with a token (docs/reliability.md,
    "Who may call"): ``token`` is sent as a Bearer token, and a 401 says so rather than "not a health answer"."""
    started = time.perf_counter()
    result = StoreHealth(target.store_id, target.url, DOWN)
    headers = {"Accept": "application/json", "User-Agent": "rxlane-fleet"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        resp = requests.get(target.url, timeout=(timeout, timeout), allow_redirects=False, headers=headers)
        if resp.status_code == 401:
            raise ValueError("HTTP 401: the store asks for a token (it listens beyond loopback); "
                             "give --store-token, or read the stores' heartbeats with --from-hq")
        try:
            body = resp.json()
        except ValueError:
            raise ValueError(f"HTTP {resp.status_code}, not JSON") from None
        try:
            result.state, result.problems = classify(body, backlog_age_s)
        except ValueError as exc:
            raise ValueError(f"HTTP {resp.status_code}, {exc}") from None
        outbox = body.get("outbox") if isinstance(body.get("outbox"), dict) else {}
        result.outbox_pending = outbox.get("pending") if isinstance(outbox.get("pending"), int) else None
        result.in_doubt = body.get("in_doubt") if isinstance(body.get("in_doubt"), int) else None
        result.version = str(body["version"]) if body.get("version") is not None else None
        result.detail = f"HTTP {resp.status_code}"
    except requests.Timeout:
        result.detail = f"timeout after {timeout:g} s"
    except requests.ConnectionError as exc:
        result.detail = "connection failed: " + _root_cause(exc)
    except (ValueError, requests.RequestException) as exc:
        # ValueError covers a body that is not JSON and JSON that is not a health answer
        result.detail = f"bad answer: {exc}"[:200]
    result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


def _root_cause(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc)
    for known in ("Connection refused", "No route to host", "Name or service not known", "Connection reset"):
        if known in text:
            return known.lower()
    return type(exc).__name__


def poll_fleet(targets: Iterable[Target], *, concurrency: int = 32, timeout: float = 5.0, backlog_age_s: float = 3600,
               on_result: Callable[[StoreHealth], None] | None = None, token: str = "") -> list[StoreHealth]:
    """Every target's health, in the targets' order; ``on_result`` is called as each answer arrives."""
    targets = list(targets)
    results: list[StoreHealth | None] = [None] * len(targets)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets) or 1)),
                            thread_name_prefix="fleet-status") as pool:
        futures = {pool.submit(poll_one, t, timeout, backlog_age_s, token): i for i, t in enumerate(targets)}
        for future in as_completed(futures):
            res = future.result()
            results[futures[future]] = res
            if on_result is not None:
                on_result(res)
    return [r for r in results if r is not None]


def summarize(results: list[StoreHealth]) -> dict[str, Any]:
    counts = {HEALTHY: 0, DEGRADED: 0, DOWN: 0}
    problems: dict[str, int] = {}
    for r in results:
        counts[r.state] += 1
        for p in r.problems:
            problems[p] = problems.get(p, 0) + 1
    return {"stores": len(results), **counts, "problems": dict(sorted(problems.items()))}
