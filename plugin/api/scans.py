"""`POST /v1/scans`: classify one scanned string (DESIGN §4 scan answer). Nothing is stored."""
from __future__ import annotations

from flask import Blueprint, current_app

from plugin.api.http import idempotent, json_response, parse
from plugin.api.models import ScanIn
from plugin.tracecode import classify

bp = Blueprint("scans", __name__)


@bp.post("/v1/scans")
@idempotent
def scan():
    req = parse(ScanIn)
    svc = current_app.extensions["rxlane"]
    return json_response(classify(req.raw, product_prefix_len=svc.settings.store.trace_prefix_len).to_dict())
