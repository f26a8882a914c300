"""Every store's state as HQ shows it (`GET /v1/hq/stores`, the HQ page, `rxlane fleet status --from-hq`).

A store is **down** when HQ has not heard from it for ``down_after_s`` (or never has), **degraded** when its newest
heartbeat names a problem (outbox backlog, in-doubt sales, device error, insurer unreachable, ledger) — the same
problems `rxlane fleet status` finds by polling — and **healthy** otherwise. Whether it runs the published list is
shown beside (``list_current``), not counted as a problem: stores pick a new list up with their next heartbeat.
"""
from __future__ import annotations

import json
from datetime import datetime, UTC
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from plugin.errors import InvalidInput, NotFound
from plugin.fleet.status import DEGRADED, DOWN, HEALTHY
from plugin.hq import heartbeats as beats
from plugin.hq import pushed_reports
from plugin.hq.schema import stores

STATUSES = (HEALTHY, DEGRADED, DOWN)
PROBLEMS = ("not_seen", "outbox_backlog", "in_doubt_sales", "device_error", "upstream_unreachable", "ledger")
FILTERS = STATUSES + PROBLEMS + ("list_outdated",)
_COLUMNS = [stores.c[name] for name in (
    "store_id", "region", "fixmedins_code", "fixmedins_name", "enrolled_at", "revoked_at", "last_seq", "last_seen",
    "sent_at", "version", "health", "problems", "outbox_pending", "outbox_parked", "outbox_oldest_age_s", "in_doubt",
    "device_errors", "upstream_reachable", "list_version")]


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).astimezone().isoformat(timespec="seconds")


def state_of(row: Any, now: float, down_after_s: float, list_version: str | None) -> dict[str, Any]:
    """One ``hq_stores`` row → the store as the page and the API show it."""
    problems = [p for p in (row.problems or "").split(",") if p]
    if row.last_seen is None or now - row.last_seen > down_after_s:
        status, problems = DOWN, ["not_seen", *problems]
    else:
        status = DEGRADED if problems or row.health == "degraded" else HEALTHY
    return {
        "store_id": row.store_id, "region": row.region, "fixmedins_code": row.fixmedins_code,
        "fixmedins_name": row.fixmedins_name, "status": status, "problems": problems,
        "last_seen": iso(row.last_seen), "seen_ago_s": None if row.last_seen is None else round(now - row.last_seen, 1),
        "last_seq": row.last_seq, "version": row.version, "outbox_pending": row.outbox_pending,
        "outbox_parked": row.outbox_parked, "outbox_oldest_age_s": row.outbox_oldest_age_s,
        "in_doubt": row.in_doubt, "device_errors": row.device_errors, "upstream_reachable": row.upstream_reachable,
        "list_version": row.list_version,
        "list_current": None if list_version is None or row.last_seen is None else row.list_version == list_version,
        "revoked": row.revoked_at is not None,
    }


def _matches(store: dict[str, Any], wanted: str) -> bool:
    if wanted in STATUSES:
        return store["status"] == wanted
    if wanted == "list_outdated":
        return store["list_current"] is False
    return wanted in store["problems"]


def board(conn: sa.Connection, now: float, down_after_s: float, list_version: str | None, *, region: str = "",
          problem: str = "", search: str = "", include_revoked: bool = False) -> dict[str, Any]:
    """``{"stores": […], "summary": {…}, "regions": […]}`` with the filters applied to ``stores`` only."""
    if problem and problem not in FILTERS:
        raise InvalidInput(f"problem must be one of {', '.join(FILTERS)}", "问题筛选条件不正确", field="problem")
    query = sa.select(*_COLUMNS).order_by(stores.c.store_id)
    if not include_revoked:
        query = query.where(stores.c.revoked_at.is_(None))
    everything = [state_of(r, now, down_after_s, list_version) for r in conn.execute(query)]
    summary: dict[str, Any] = {"stores": len(everything), **{s: 0 for s in STATUSES}, "problems": {},
                               "list_current": sum(1 for s in everything if s["list_current"])}
    for s in everything:
        summary[s["status"]] += 1
        for p in s["problems"]:
            summary["problems"][p] = summary["problems"].get(p, 0) + 1
    shown = [s for s in everything if (not region or s["region"] == region)
             and (not problem or _matches(s, problem)) and (not search or search.lower() in s["store_id"].lower()
                                                            or search in (s["fixmedins_name"] or ""))]
    regions = sorted({s["region"] for s in everything if s["region"]})
    return {"stores": shown, "summary": summary, "regions": regions,
            "region_names": {r: region_name(r) for r in regions}}


@lru_cache(maxsize=64)
def region_name(region: str) -> str:
    """江西省 for "jiangxi": the name in the region's policy file, or the key itself."""
    from plugin.policy import list_regions, load_region
    try:
        return load_region(region).name if region in list_regions() else region
    except Exception:  # noqa: BLE001 — a broken policy file only costs the page its Chinese region name
        return region


def store_detail(conn: sa.Connection, store_id: str, now: float, down_after_s: float,
                 list_version: str | None) -> dict[str, Any]:
    row = conn.execute(sa.select(*_COLUMNS, stores.c.last_body).where(stores.c.store_id == store_id)).first()
    if row is None:
        raise NotFound(f"store {store_id}", store_id=store_id)
    out = state_of(row, now, down_after_s, list_version)
    try:
        out["health"] = json.loads(row.last_body) if row.last_body else None
    except ValueError:
        out["health"] = None
    out["history"] = [{**h, "received_at": iso(h["received_at"]), "sent_at": iso(h["sent_at"])}
                      for h in beats.history(conn, store_id)]
    out["reports"] = [{**r, "received_at": iso(r["received_at"])} for r in pushed_reports.versions(conn, store_id)]
    return out
