"""Settlement slip (结算单): `GET /v1/sales/{id}/slip.txt|.png` and `POST /v1/sales/{id}/print`."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from hardware.slip import slip_escpos, slip_png, slip_text
from plugin.errors import InvalidState, RxlaneError
from plugin.api.http import idempotent, json_response
from plugin.api.sales import _known
from plugin.privacy import mask_certno, mask_name
from plugin.saleview import sale_view

bp = Blueprint("slips", __name__)
PRINTABLE = ("settled", "refunded")


def slip_data(svc, sale_id: str) -> dict[str, Any]:
    sale = sale_view(svc.ledger, sale_id)
    if sale["state"] not in PRINTABLE:
        raise InvalidState(sale["state"], "printed")
    patient = svc.ledger.patients.get(sale["patient_ref"])
    person = patient.person if patient else {}
    return {
        "pharmacy": {"name": svc.settings.store.fixmedins_name, "code": svc.settings.store.fixmedins_code},
        "time": sale["setl_time"] or sale["updated_at"],
        "patient": {"name_masked": mask_name(person.get("psn_name", "")),
                    "certno_masked": mask_certno(person.get("certno", "")), "insutype": sale["patient"]["insutype"]},
        "setl_id": sale["setl_id"] or "", "hi_rxno": sale["hi_rxno"] or "",
        "lines": [{"name": l["drug_name"] or l["generic_name"], "spec": l["spec"], "qty": l["qty"],
                   "price": l["price"], "line_total": l["line_total"], "trace_codes": l["trace_codes"]}
                  for l in sale["lines"]],
        "split": sale["split"] or {},
        "state": sale["state"],
    }


@bp.get("/v1/sales/<sale_id>/slip.txt")
def slip_txt(sale_id: str):
    svc = current_app.extensions["rxlane"]
    return Response(slip_text(slip_data(svc, _known(sale_id))), mimetype="text/plain; charset=utf-8")


@bp.get("/v1/sales/<sale_id>/slip.png")
def slip_image(sale_id: str):
    svc = current_app.extensions["rxlane"]
    return Response(slip_png(slip_data(svc, _known(sale_id))), mimetype="image/png")


@bp.post("/v1/sales/<sale_id>/print")
@idempotent
def print_slip(sale_id: str):
    svc = current_app.extensions["rxlane"]
    data = slip_data(svc, _known(sale_id))
    if svc.devices is None:
        raise RxlaneError("PRINTER_UNAVAILABLE", details={"error": "no printer configured"})
    result = svc.devices.manager.print(None, slip_escpos(data))
    if not result.get("ok"):
        raise RxlaneError("PRINTER_UNAVAILABLE", details={"printer": result.get("name"), "error": result.get("error")})
    return json_response(result)
