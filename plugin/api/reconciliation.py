"""`POST /v1/reconciliation {date}`: run the day's 3201/3202 now and list every difference (docs/pos-integration.md, docs/architecture.md)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app

from plugin.errors import InvalidInput
from plugin.api.http import idempotent, json_response, parse
from plugin.api.models import ReconciliationIn
from plugin.reconcile import reconcile

bp = Blueprint("reconciliation", __name__)


@bp.post("/v1/reconciliation")
@idempotent
def run():
    req = parse(ReconciliationIn)
    try:
        day = date.fromisoformat(req.date)
    except ValueError:
        raise InvalidInput("date: not a calendar date.", "字段 date：不是有效日期。", field="date") from None
    return json_response(reconcile(current_app.extensions["rxlane"], day))
