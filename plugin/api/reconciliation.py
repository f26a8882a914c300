"""Reconciliation (docs/reconciliation.md): ``POST /v1/reconciliation {date}`` runs the store's 3201/3202 now and
lists every difference (on the lead counter, or a counter alone); ``GET /v1/reconciliation/rows?date=`` gives this
counter's settlements of a day to the store's lead counter (scope ``reconcile`` beyond loopback)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, request

from plugin.api.auth import pii_allowed
from plugin.api.http import idempotent, json_response, parse
from plugin.api.models import ReconciliationIn
from plugin.errors import InvalidInput
from plugin.privacy import masked_answer
from plugin.reconcile import day_rows, reconcile

bp = Blueprint("reconciliation", __name__)


def _day(text: str | None) -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        raise InvalidInput("date: not a calendar date.", "字段 date：不是有效日期。", field="date") from None


@bp.post("/v1/reconciliation")
@idempotent
def run():
    req = parse(ReconciliationIn)
    result = reconcile(current_app.extensions["rxlane"], _day(req.date))
    # a difference names the insurer's person number: masked unless the caller may see personal data
    return json_response(result if pii_allowed() else masked_answer(result))


@bp.get("/v1/reconciliation/rows")
def rows():
    svc = current_app.extensions["rxlane"]
    day = _day(request.args.get("date"))
    mine = day_rows(svc.ledger, day, clr_type=svc.upstream.client.profile.reconcile.clr_type,
                    setl_optins=svc.pharmacy_admdvs)
    return json_response({"fixmedins_code": svc.settings.store.fixmedins_code,
                          "counter_no": svc.settings.store.counter_no, "date": day.isoformat(),
                          "rows": [r.to_dict() for r in mine]})
