"""Sales: create, presettle (2101), settle (2102), refund (2103), read. Thin views over plugin/sales.py."""
from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, current_app, request

from plugin import drafts
from plugin.api.auth import pii_allowed
from plugin.errors import InvalidInput, NotFound
from plugin.api.http import body_json, idempotent, json_response, parse
from plugin.api.models import AccountIn, RefundIn, SaleIn, SettleIn, TraceCodesIn
from plugin.saleview import day_sales, sale_view

bp = Blueprint("sales", __name__)
_SALE_ID = re.compile(r"^S\d{8}[0-9A-F]{12}$")


def _svc():
    return current_app.extensions["rxlane"]


def _known(sale_id: str) -> str:
    if not _SALE_ID.match(sale_id):
        raise NotFound("sale")     # not a sale id at all (an ID number scanned into the wrong field): not echoed
    if not _svc().ledger.sales.exists(sale_id):
        raise NotFound("sale", id=sale_id)
    return sale_id


# -- the retry of a request a crash interrupted (plugin/api/idempotency.py) -----------------------------------------
def _created(claim, error, kwargs):
    """POST /v1/sales: the sale the first attempt committed (linked to the key in the same transaction)."""
    if error is None and claim["resource"] and _svc().ledger.sales.exists(claim["resource"]):
        sale_id = claim["resource"]
        return json_response(_view(sale_id), 201, {"Location": f"/v1/sales/{sale_id}"})
    return None


def _reached(*states: str):
    """A sale action refused because the sale already is where the first attempt took it: answer with the sale."""
    def recover(claim, error, kwargs):
        if error is None or "sale_id" not in kwargs:
            return None
        state = _svc().ledger.sales.state(kwargs["sale_id"]) if _SALE_ID.match(kwargs["sale_id"]) else None
        return json_response(_view(kwargs["sale_id"])) if state in states else None
    return recover


def _view(sale_id: str) -> dict:
    """The sale as this caller may see it (personal data unmasked only for a `pii` token)."""
    return sale_view(_svc().ledger, sale_id, pii=pii_allowed())


def _optional(model):
    """Bodies of presettle/settle/refund are optional: an empty body means the defaults."""
    return model() if not request.get_data(cache=True).strip() else parse(model, body_json())


@bp.post("/v1/sales")
@idempotent(recover=_created)
def create():
    req = parse(SaleIn)
    svc = _svc()
    if not req.acct_used and not svc.policy.account_optional:
        raise drafts.account_required(svc.policy.name)
    sale_id = svc.sales.create(req.order())
    return json_response(_view(sale_id), 201, {"Location": f"/v1/sales/{sale_id}"})


@bp.get("/v1/sales")
def list_day():
    setl_id = request.args.get("setl_id")
    if setl_id is not None:
        # the slip's barcode carries setl_id: find its sale whatever the day (a refund from an older slip)
        found = _svc().sales.find_by_setl_id(setl_id[:64])
        return json_response({"setl_id": setl_id[:64], "sales": [_view(found)] if found else []})
    day = request.args.get("date") or date.today().isoformat()
    try:
        date.fromisoformat(day)
    except ValueError:
        raise InvalidInput("date must be YYYY-MM-DD.", "日期格式应为 YYYY-MM-DD。", field="date") from None
    return json_response({"date": day, "sales": day_sales(_svc().ledger, day)})


@bp.get("/v1/sales/open")
def list_open():
    """Unsettled sales of a patient and/or for a prescription: the counter resumes one instead of starting another."""
    ref = request.args.get("patient_ref", "")[:64] or None
    hi_rxno = request.args.get("hi_rxno", "")[:64] or None
    found = drafts.open_sales(_svc().ledger, patient_ref=ref, hi_rxno=hi_rxno)
    return json_response({"sales": [_view(s.id) for s in found]})


@bp.get("/v1/sales/<sale_id>")
def get(sale_id: str):
    return json_response(_view(_known(sale_id)))


@bp.post("/v1/sales/<sale_id>/presettle")
@idempotent
def presettle(sale_id: str):
    req = _optional(SettleIn)
    svc = _svc()
    result = svc.sales.presettle(_known(sale_id), req.confirm_selfpay)
    return json_response({**_view(sale_id), **result})


@bp.post("/v1/sales/<sale_id>/settle")
@idempotent(recover=_reached("settled"))
def settle(sale_id: str):
    req = _optional(SettleIn)
    svc = _svc()
    result = svc.sales.settle(_known(sale_id), req.confirm_selfpay, password=req.password)
    view = _view(sale_id)
    return json_response({**view, **result, "psn_cash_pay": result["split"]["psn_cash_pay"]})


@bp.post("/v1/sales/<sale_id>/refund")
@idempotent(recover=_reached("refunded"))
def refund(sale_id: str):
    req = _optional(RefundIn)
    result = _svc().sales.refund(_known(sale_id), req.reason, lines=req.lines)
    return json_response({**_view(sale_id), "refund": result})


@bp.post("/v1/sales/<sale_id>/resolve")
@idempotent
def resolve(sale_id: str):
    svc = _svc()
    svc.sales.resolve(_known(sale_id))
    return json_response(_view(sale_id))


@bp.post("/v1/sales/<sale_id>/trace-codes")
@idempotent
def add_trace_codes(sale_id: str):
    req = parse(TraceCodesIn)
    svc = _svc()
    added = svc.sales.add_trace_codes(_known(sale_id), req.codes, req.line_no, tuple(req.distinct_from))
    return json_response({**_view(sale_id), "added": added})


@bp.delete("/v1/sales/<sale_id>/trace-codes")
@idempotent
def remove_trace_codes(sale_id: str):
    req = parse(TraceCodesIn)
    svc = _svc()
    svc.sales.remove_trace_codes(_known(sale_id), req.codes)
    return json_response(_view(sale_id))


@bp.post("/v1/sales/<sale_id>/account")
@idempotent
def set_account(sale_id: str):
    req = parse(AccountIn)
    drafts.set_account(_svc().sales, _known(sale_id), req.acct_used)
    return json_response(_view(sale_id))


@bp.delete("/v1/sales/<sale_id>")
@idempotent(recover=_reached("cancelled"))
def cancel(sale_id: str):
    svc = _svc()
    svc.sales.cancel(_known(sale_id))
    return json_response(_view(sale_id))
