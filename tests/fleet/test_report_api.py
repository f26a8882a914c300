"""`GET /v1/reports/monthly` on a running rxlane: the same report as the library, in three formats."""
from __future__ import annotations

import csv
import io

from PIL import Image

from plugin import reports


def test_monthly_report_json_over_http_equals_the_ledger_report(rx, fill_ledger):
    svc, http = rx
    fill_ledger(svc.ledger)
    resp = http.get("/v1/reports/monthly", params={"month": "2026-11"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["totals"] == reports.monthly(svc.ledger, "2026-11")["totals"]
    assert body["store"]["fixmedins_code"] == svc.settings.store.fixmedins_code


def test_monthly_report_csv_and_png_over_http(rx, fill_ledger):
    svc, http = rx
    fill_ledger(svc.ledger)
    resp = http.get("/v1/reports/monthly", params={"month": "2026-11", "format": "csv"})
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0]["section"] == "total"
    png = http.get("/v1/reports/monthly", params={"month": "2026-11", "format": "png"})
    assert png.headers["Content-Type"] == "image/png" and Image.open(io.BytesIO(png.content)).format == "PNG"


def test_a_bad_month_or_format_is_a_400_invalid_input_json_error(rx):
    _, http = rx
    for params, field in (({"month": "2026-13"}, "month"), ({}, "month"),
                          ({"month": "2026-11", "format": "pdf"}, "format")):
        resp = http.get("/v1/reports/monthly", params=params)
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field and error["message_zh"]
