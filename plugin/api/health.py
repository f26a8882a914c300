"""`GET /v1/health`: what a pharmacist, the POS and chain HQ need to know at a glance."""
from __future__ import annotations

from flask import Blueprint, current_app

from plugin.api.http import json_response
from plugin.errors import RxlaneError

bp = Blueprint("health", __name__)


def health_report(svc) -> dict:
    status = svc.upstream.status
    outbox = svc.outbox.depth()
    in_doubt_ids = svc.sales.in_doubt_ids()
    in_doubt = len(in_doubt_ids)
    devices = svc.devices.states() if svc.devices is not None else []
    ledger_ok = svc.ledger.healthy()
    problems = []
    if not ledger_ok:
        problems.append("ledger")
    if status.reachable is False:
        problems.append("upstream_unreachable")
    if in_doubt:
        problems.append("in_doubt_sales")
    stuck = svc.outbox.problems()
    if any(r["reason"] == "UPLOAD_REFUSED" for r in stuck):
        problems.append("upload_refused")        # the insurer refused an upload: named in outbox.problems
    if outbox["waiting"]:
        problems.append("upload_details_missing")
    if outbox["parked"]:
        problems.append("outbox_parked")
    outbox["problems"] = stuck
    if any(d["state"] == "error" for d in devices):
        problems.append("device_error")
    return {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "version": svc.version,
        "store": {"fixmedins_code": svc.settings.store.fixmedins_code,
                  "fixmedins_name": svc.settings.store.fixmedins_name, "region": svc.policy.region},
        "ledger": {"ok": ledger_ok, "schema_version": svc.ledger.schema_version},
        "upstream": {"url": svc.gateway_url, "profile": svc.upstream.client.profile.name,
                     "embedded_sandbox": svc.settings.embedded_sandbox,
                     "reachable": status.reachable, "signed_in": status.signed_in,
                     "signed_in_at": status.signed_in_at, "last_error": status.last_error,
                     "last_ok_at": status.last_ok_at, "latency_ms": status.latency_ms},
        "outbox": outbox,
        "in_doubt": in_doubt,
        "in_doubt_ids": in_doubt_ids[:50],
        "devices": devices,
        "catalog_synced_at": svc.ledger.catalog.synced_at(),
        "catalog": catalog_summary(svc),
    }


def catalog_summary(svc) -> dict:
    """The imported dual-channel list in use (none: the list rules are left to the insurer) and the gateway sync."""
    try:
        listed = svc.catalog.dual_channel_list()
    except RxlaneError as exc:
        return {"list": None, "list_error": exc.code, "synced_at": svc.ledger.catalog.synced_at()}
    meta = listed.meta if listed is not None else None
    return {"list": None if listed is None else {"rows": len(listed), "sha256": listed.document_sha256,
                                                 "source": meta.source if meta else "",
                                                 "imported_at": meta.imported_at if meta else ""},
            "synced_at": svc.ledger.catalog.synced_at()}


@bp.get("/v1/health")
def health():
    return json_response(health_report(current_app.extensions["rxlane"]))
