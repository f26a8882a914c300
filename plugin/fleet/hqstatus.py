"""`rxlane fleet status --from-hq URL`: the fleet's health as HQ's database has it, for stores HQ cannot poll.

Stores behind NAT push heartbeats to `rxlane hq serve`; this reads ``GET /v1/hq/stores`` (with the admin token when
HQ has one) and gives the same `StoreHealth` rows as polling, so the table, the JSON and the exit code are the same.
With an inventory, a store that HQ does not know is listed down ("not enrolled at HQ").
"""
from __future__ import annotations

from typing import Any
from collections.abc import Iterable

import requests

from plugin.errors import RxlaneError
from plugin.fleet.inventory import StoreRow
from plugin.fleet.status import DEGRADED, DOWN, HEALTHY, StoreHealth

_STATES = {HEALTHY, DEGRADED, DOWN}


def _detail(store: dict[str, Any]) -> str:
    ago = store.get("seen_ago_s")
    if ago is None:
        return "never seen by HQ"
    return f"last heartbeat {ago:.0f} s ago" + (" (down)" if store.get("status") == DOWN else "")


def from_hq(url: str, token: str = "", timeout: float = 30.0) -> list[StoreHealth]:
    """Every store HQ knows, as StoreHealth; raises RxlaneError when HQ cannot be read."""
    base = url.rstrip("/")
    headers = {"Accept": "application/json", "User-Agent": "rxlane-fleet"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        resp = requests.get(base + "/v1/hq/stores", headers=headers, timeout=(min(10.0, timeout), timeout),
                            allow_redirects=False)
    except requests.RequestException as exc:
        raise RxlaneError("UPSTREAM_UNAVAILABLE", f"HQ at {base} cannot be reached: {type(exc).__name__}",
                          f"无法连接总部服务 {base}", http_status=503) from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("stores"), list):
        code = (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None
        raise RxlaneError(code if code in ("UNAUTHORIZED", "FORBIDDEN") else "UPSTREAM_REFUSED",
                          f"HQ at {base} answered {resp.status_code}" + (f" {code}" if code else ""),
                          f"总部服务 {base} 返回 {resp.status_code}", http_status=502)
    out = []
    for store in body["stores"]:
        if not isinstance(store, dict) or not isinstance(store.get("store_id"), str):
            continue
        status = store.get("status")
        state = status if isinstance(status, str) and status in _STATES else DOWN
        out.append(StoreHealth(
            store_id=store["store_id"], url=f"{base}/v1/hq/stores/{store['store_id']}", state=state,
            problems=[p for p in store.get("problems") or [] if isinstance(p, str)], detail=_detail(store),
            outbox_pending=store.get("outbox_pending") if isinstance(store.get("outbox_pending"), int) else None,
            in_doubt=store.get("in_doubt") if isinstance(store.get("in_doubt"), int) else None,
            version=str(store["version"]) if store.get("version") is not None else None))
    return out


def with_inventory(results: list[StoreHealth], rows: Iterable[StoreRow], hq_url: str) -> list[StoreHealth]:
    """Only the inventory's stores, in its order; one HQ does not know is down."""
    known = {r.store_id: r for r in results}
    out = []
    for row in rows:
        out.append(known.get(row.store_id) or StoreHealth(row.store_id, hq_url, DOWN, ["not_seen"],
                                                          "not enrolled at HQ"))
    return out
