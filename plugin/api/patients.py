"""`POST /v1/patients/identify` (1101 + 5301) and `GET /v1/prescriptions` (7202/7203)."""
from __future__ import annotations


from flask import Blueprint, current_app, request

from plugin import patients, prescriptions
from plugin.api.auth import pii_allowed
from plugin.errors import InvalidInput
from plugin.api.http import idempotent, json_response, parse
from plugin.api.models import IdentifyIn
from plugin.rxview import prescription_view
from plugin.scanhints import hint

bp = Blueprint("patients", __name__)


@bp.post("/v1/patients/identify")
@idempotent
def identify():
    req = parse(IdentifyIn)
    svc = current_app.extensions["rxlane"]
    if req.scan_ref:
        cert_type, cert_no, card_sn = svc.scan_refs.take(req.scan_ref)
        req = req.model_copy(update={"cert_type": cert_type, "cert_no": cert_no, "card_sn": card_sn})
    if req.mdtrt_cert_type == "03" and not req.card_sn.strip():
        # 03 needs the card's identification code (卡识别码), which only a card reader reads: without it the
        # insurer can only answer "not found", which would send the pharmacist looking for the wrong fault
        needed = hint("card_sn_needed")
        raise InvalidInput(needed.message, needed.message_zh, field="card_sn")
    return json_response(patients.identify(svc.ledger, svc.upstream, req.credential(), pii=pii_allowed()))


@bp.get("/v1/prescriptions")
def list_prescriptions():
    ref = request.args.get("patient_ref", "")
    if not ref or len(ref) > 64:
        raise InvalidInput("patient_ref is required.", "缺少 patient_ref 参数。", field="patient_ref")
    svc = current_app.extensions["rxlane"]
    person, filings, row = patients.load(svc.ledger, ref)
    found = prescriptions.for_patient(svc.upstream, person, row.cert_type, row.cert_no, row.card_sn)
    return json_response({"patient_ref": ref,
                          "prescriptions": [prescription_view(svc, person, filings, rx) for rx in found]})
