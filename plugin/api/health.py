"""`GET /v1/health`: what a pharmacist, the POS and chain HQ need to know at a glance."""
from __future__ import annotations

from flask import Blueprint, current_app

from plugin.api.http import json_response
from plugin.errors import LedgerFault, RxlaneError
from plugin.recovery import stranded_ids

bp = Blueprint("health", __name__)


def health_report(svc) -> dict:
    status = svc.upstream.status
    outbox = svc.outbox.depth()
    # a sale whose settlement's outcome could not be written (a full disk) is in doubt before the ledger says so
    in_doubt_ids = svc.sales.in_doubt_ids() + [s for s in stranded_ids(svc.ledger)]
    in_doubt = len(in_doubt_ids)
    devices = svc.devices.states() if svc.devices is not None else []
    ledger_ok = svc.ledger.healthy()
    fault = svc.ledger.fault
    write_fault = svc.ledger.write_failed_recently()
    skew = status.clock_skew_s
    problems = []
    if not ledger_ok:
        problems.append("ledger")
    if fault is not None:
        problems.append({"LEDGER_FILES_LOST": "ledger_files_lost"}.get(fault.code, "ledger_damaged"))
    if write_fault is not None:
        problems.append("ledger_write_failed")
    if status.reachable is False:
        problems.append("upstream_unreachable")
    if skew is not None and abs(skew) > svc.settings.nhsa.clock_skew_max_s:
        problems.append("clock_skew")
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
        "ledger": {"ok": ledger_ok and fault is None, "schema_version": _schema(svc),
                   "fault": fault.to_body()["error"] if fault is not None else None,
                   "write_failed": write_fault.to_body()["error"] if write_fault is not None else None},
        "clock": {"skew_s": skew, "max_s": svc.settings.nhsa.clock_skew_max_s},
        "upstream": {"url": svc.gateway_url, "profile": svc.upstream.client.profile.name,
                     "embedded_sandbox": svc.settings.embedded_sandbox,
                     "reachable": status.reachable, "signed_in": status.signed_in,
                     "signed_in_at": status.signed_in_at, "last_error": status.last_error,
                     "last_ok_at": status.last_ok_at, "latency_ms": status.latency_ms},
        "outbox": outbox,
        "in_doubt": in_doubt,
        "in_doubt_ids": in_doubt_ids[:50],
        "devices": devices,
        "catalog_synced_at": _synced_at(svc),
        "catalog": catalog_summary(svc),
    }


def catalog_summary(svc) -> dict:
    """The imported dual-channel list in use (none: the list rules are left to the insurer) and the gateway sync."""
    synced_at = _synced_at(svc)
    try:
        listed = svc.catalog.dual_channel_list()
    except RxlaneError as exc:
        return {"list": None, "list_error": exc.code, "synced_at": synced_at}
    meta = listed.meta if listed is not None else None
    return {"list": None if listed is None else {"rows": len(listed), "sha256": listed.document_sha256,
                                                 "source": meta.source if meta else "",
                                                 "imported_at": meta.imported_at if meta else ""},
            "synced_at": synced_at}


def _synced_at(svc) -> str | None:
    try:
        return svc.ledger.catalog.synced_at()
    except LedgerFault:
        return None


def _schema(svc) -> int | None:
    try:
        return svc.ledger.schema_version
    except LedgerFault:
        return None


@bp.get("/v1/health")
def health():
    return json_response(health_report(current_app.extensions["rxlane"]))
