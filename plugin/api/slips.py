"""Settlement slip (结算单): `GET /v1/sales/{id}/slip.txt|.png` and `POST /v1/sales/{id}/print`.

Every print uses the configured printer's own code page and columns (hardware/codepage.py); the text slip is laid
out at the same width. A refunded sale's slip is marked 已退费. No slip path answers 500: a slip that cannot be
rendered or printed is `PRINTER_UNAVAILABLE` with what went wrong — the sale behind it has moved money already.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app

from hardware.slip import slip_png, slip_text
from plugin.api.http import idempotent, json_response
from plugin.api.sales import _known
from plugin.errors import InvalidState, RxlaneError
from plugin.privacy import mask_certno, mask_name
from plugin.saleview import sale_view

bp = Blueprint("slips", __name__)
log = logging.getLogger("rxlane.slips")
PRINTABLE = ("settled", "refunded")
DEFAULT_COLUMNS = 42


def slip_data(svc, sale_id: str) -> dict[str, Any]:
    sale = sale_view(svc.ledger, sale_id)
    if sale["state"] not in PRINTABLE:
        raise InvalidState(sale["state"], "printed")
    patient = svc.ledger.patients.get(sale["patient_ref"])
    person = patient.person if patient else {}
    refund = sale["refund"] or {}
    return {
        "pharmacy": {"name": svc.settings.store.fixmedins_name, "code": svc.settings.store.fixmedins_code},
        "time": sale["setl_time"] or sale["updated_at"],
        "patient": {"name_masked": mask_name(person.get("psn_name", "")),
                    "certno_masked": mask_certno(person.get("certno", "")), "insutype": sale["patient"]["insutype"]},
        "setl_id": sale["setl_id"] or "", "hi_rxno": sale["hi_rxno"] or "",
        "lines": [{"name": ln["drug_name"] or ln["generic_name"], "spec": ln["spec"], "qty": ln["qty"],
                   "price": ln["price"], "line_total": ln["line_total"], "trace_codes": ln["trace_codes"]}
                  for ln in sale["lines"]],
        "split": sale["split"] or {},
        "state": sale["state"],
        "refund": {"refunded_at": refund.get("refunded_at", ""), "reason": refund.get("reason", "")},
    }


def _columns(svc) -> int:
    printer = svc.devices.manager.printer_config() if svc.devices is not None else None
    return printer.columns if printer is not None else DEFAULT_COLUMNS


def _unrenderable(exc: Exception) -> RxlaneError:
    log.exception("slip rendering failed")
    return RxlaneError("PRINTER_UNAVAILABLE", message=f"The slip could not be rendered: {type(exc).__name__}.",
                       message_zh="结算凭条生成失败，结算不受影响；请联系技术支持。",
                       details={"error": type(exc).__name__})


@bp.get("/v1/sales/<sale_id>/slip.txt")
def slip_txt(sale_id: str):
    svc = current_app.extensions["rxlane"]
    data = slip_data(svc, _known(sale_id))
    try:
        text = slip_text(data, _columns(svc))
    except Exception as exc:   # a slip is a courtesy: its failure is reported, never a 500
        raise _unrenderable(exc) from None
    return Response(text, mimetype="text/plain; charset=utf-8")


@bp.get("/v1/sales/<sale_id>/slip.png")
def slip_image(sale_id: str):
    svc = current_app.extensions["rxlane"]
    data = slip_data(svc, _known(sale_id))
    try:
        png = slip_png(data)
    except Exception as exc:   # fonts, Pillow, an odd value from the insurer: reported, never a 500
        raise _unrenderable(exc) from None
    return Response(png, mimetype="image/png")


@bp.post("/v1/sales/<sale_id>/print")
@idempotent
def print_slip(sale_id: str):
    svc = current_app.extensions["rxlane"]
    data = slip_data(svc, _known(sale_id))
    if svc.devices is None:
        raise RxlaneError("PRINTER_UNAVAILABLE", details={"error": "no printer configured"})
    result = svc.devices.manager.print_slip(None, data)
    if not result.get("ok"):
        raise RxlaneError("PRINTER_UNAVAILABLE", details={"printer": result.get("name"), "error": result.get("error")})
    return json_response(result)
