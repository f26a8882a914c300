"""`POST /v1/scans`: classify one scanned string (docs/pos-integration.md scan answer). A patient credential comes back
masked with a short-lived `scan_ref` for `POST /v1/patients/identify`; nothing is written to the ledger. A scan altered
on the way carries `hints` (plugin/scanhints.py) and, for a credential, no `scan_ref`."""
from __future__ import annotations

from flask import Blueprint, current_app

from plugin.api.http import idempotent, json_response, parse
from plugin.api.models import ScanIn
from plugin.devices import with_scan_ref

bp = Blueprint("scans", __name__)


@bp.post("/v1/scans")
@idempotent
def scan():
    req = parse(ScanIn)
    svc = current_app.extensions["rxlane"]
    scan = svc.sales.scan_rules.classify(req.raw)
    return json_response(with_scan_ref(scan, svc.scan_refs))
