"""Uploads at the counter (docs/reconciliation.md): who is on duty (``GET/PUT /v1/pharmacist``), details a sale's
uploads lack (``POST /v1/sales/{id}/upload-details``), the store's stock batches (``/v1/stock``), and the outbox
(``GET /v1/outbox``; ``POST /v1/outbox/retry`` — what `rxlane outbox --retry` does, asked of the running service)."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from plugin import duty, stock
from plugin.api.auth import pii_allowed
from plugin.api.http import idempotent, json_response, parse
from plugin.api.models import DutyIn, OutboxRetryIn, StockIn, UploadDetailsIn
from plugin.errors import NotFound
from plugin.saleview import sale_view

bp = Blueprint("uploads", __name__)


def _svc():
    return current_app.extensions["rxlane"]


@bp.get("/v1/pharmacist")
def on_duty():
    svc = _svc()
    return json_response(duty.view(svc.ledger, svc.settings.pharmacists))


@bp.put("/v1/pharmacist")
def set_on_duty():
    req = parse(DutyIn)
    svc = _svc()
    changes = {role: getattr(req, role) for role in ("pharmacist", "checker") if role in req.model_fields_set}
    return json_response(duty.change(svc.ledger, svc.settings.pharmacists, changes))


@bp.post("/v1/sales/<sale_id>/upload-details")
@idempotent
def upload_details(sale_id: str):
    req = parse(UploadDetailsIn)
    svc = _svc()
    if not svc.ledger.sales.exists(sale_id[:64]):
        raise NotFound("sale", id=sale_id[:64])
    svc.outbox.supply(sale_id, lines={ln.line_no: ln.values() for ln in req.lines if ln.values()},
                      sale={k: v for k, v in (("pharmacist", req.pharmacist), ("checker", req.checker),
                                              ("prescriber_name", req.prescriber_name)) if v})
    svc.recovery.kick()
    return json_response(sale_view(svc.ledger, sale_id, pii=pii_allowed()))


@bp.get("/v1/stock")
def stock_list():
    include = request.args.get("retired") in ("1", "true")
    return json_response({"stock": stock.listing(_svc().ledger, include)})


@bp.post("/v1/stock")
@idempotent
def stock_add():
    req = parse(StockIn)
    entry = stock.add(_svc().ledger, med_list_codg=req.med_list_codg, lot=req.lot, manu_date=req.manu_date,
                      expy_end=req.expy_end, bchno=req.bchno, prdr_name=req.prdr_name)
    return json_response(entry, 201)


@bp.delete("/v1/stock/<int:entry_id>")
def stock_retire(entry_id: int):
    stock.retire(_svc().ledger, entry_id)
    return json_response({"id": entry_id, "retired": True})


@bp.get("/v1/outbox")
def outbox_list():
    svc = _svc()
    return json_response({"depth": svc.outbox.depth(), "rows": svc.outbox.rows(unfinished=True)})


@bp.post("/v1/outbox/retry")
@idempotent
def outbox_retry():
    req = _optional_retry()
    svc = _svc()
    made_due = svc.outbox.retry(req.id)
    svc.recovery.kick()
    return json_response({"made_due": made_due, "depth": svc.outbox.depth()})


def _optional_retry() -> OutboxRetryIn:
    from plugin.api.http import body_json
    return OutboxRetryIn() if not request.get_data(cache=True).strip() else parse(OutboxRetryIn, body_json())
