"""`GET /v1/reports/monthly?month=YYYY-MM&format=json|csv|png` — the store's monthly dual-channel report."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from plugin import reports

bp = Blueprint("reports", __name__)


@bp.get("/v1/reports/monthly")
def monthly():
    svc = current_app.extensions["rxlane"]
    month = request.args.get("month", "")
    fmt = request.args.get("format", "json")
    reports.month_bounds(month)                   # a bad month is 400 INVALID_INPUT before any work
    if fmt not in reports.FORMATS:
        reports.render({}, fmt)                   # raises INVALID_INPUT naming the format
    store = {"fixmedins_code": svc.settings.store.fixmedins_code,
             "fixmedins_name": svc.settings.store.fixmedins_name, "region": svc.settings.store.region}
    media, body = reports.render(reports.monthly(svc.ledger, month, store), fmt)
    resp = current_app.response_class(body, mimetype=media.split(";")[0])
    resp.headers["Content-Type"] = media
    if fmt != "json":
        resp.headers["Content-Disposition"] = \
            f'attachment; filename="rxlane-{store["fixmedins_code"]}-{month}.{fmt}"'
    return resp
