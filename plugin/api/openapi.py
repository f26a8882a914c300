"""`GET /openapi.json`: the POS contract, generated from the same models that validate requests."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from pydantic import BaseModel

from plugin.api import models, schemas
from plugin.errors import ERRORS, REASONS
from plugin.api.http import json_response

bp = Blueprint("openapi", __name__)

SALE_ID = {"name": "sale_id", "in": "path", "required": True, "schema": {"type": "string",
                                                                          "pattern": r"^S\d{8}[0-9A-F]{12}$"}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "description": "Same key + same body returns the first answer; same key + other body is 409.",
               "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_.:\-]{1,128}$"}}

# (method, path, summary, request model, answer model, answer status, path params, query params, errors)
ENDPOINTS: list[tuple] = [
    ("get", "/v1/health", "Service health", None, schemas.HealthOut, 200, [], [], []),
    ("post", "/v1/scans", "Classify one scanned string", models.ScanIn, schemas.ScanOut, 200, [], [],
     ["INVALID_INPUT", "TRACE_CODE_INVALID"]),
    ("post", "/v1/patients/identify", "Identify a patient (1101) with filings (5301)", models.IdentifyIn,
     schemas.PatientOut, 200, [], [], ["INVALID_INPUT", "PATIENT_NOT_FOUND", "UPSTREAM_UNAVAILABLE"]),
    ("get", "/v1/prescriptions", "Circulated prescriptions of a patient, each line judged", None,
     schemas.PrescriptionsOut, 200, [],
     [{"name": "patient_ref", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 64}}],
     ["INVALID_INPUT", "PATIENT_NOT_FOUND", "UPSTREAM_UNAVAILABLE"]),
    ("post", "/v1/sales", "Create a draft sale; eligibility per line", models.SaleIn, schemas.SaleOut, 201, [], [],
     ["INVALID_INPUT", "PATIENT_NOT_FOUND", "DRUG_NOT_FOUND", "UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED",
      "ACCOUNT_REQUIRED", "TRACE_CODE_ALREADY_SOLD", "TRACE_CODE_CASE_VARIANT"]),
    ("get", "/v1/sales", "A day's sales", None, schemas.DaySalesOut, 200, [],
     [{"name": "date", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
      {"name": "setl_id", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}}],
     ["INVALID_INPUT"]),
    ("get", "/v1/sales/open", "Unsettled sales of a patient and/or for a prescription (to resume one)", None,
     schemas.OpenSalesOut, 200, [],
     [{"name": "patient_ref", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}},
      {"name": "hi_rxno", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 64}}],
     ["INVALID_INPUT", "PATIENT_NOT_FOUND"]),
    ("get", "/v1/sales/{sale_id}", "One sale with its journal", None, schemas.SaleOut, 200, [SALE_ID], [],
     ["NOT_FOUND"]),
    ("post", "/v1/sales/{sale_id}/presettle", "Pre-settlement (2101) and the local estimate", models.SettleIn,
     schemas.SettlementOut, 200, [SALE_ID], [],
     ["NOT_FOUND", "INVALID_STATE", "LINES_INELIGIBLE", "PRICE_ABOVE_STANDARD", "UPSTREAM_REFUSED",
      "UPSTREAM_UNAVAILABLE", "SETTLEMENT_IN_DOUBT"]),
    ("post", "/v1/sales/{sale_id}/settle", "Settlement (2102): setl_id, split, cash to collect", models.SettleIn,
     schemas.SettlementOut, 200, [SALE_ID], [],
     ["NOT_FOUND", "INVALID_STATE", "LINES_INELIGIBLE", "PRICE_ABOVE_STANDARD", "UPSTREAM_REFUSED",
      "UPSTREAM_UNAVAILABLE", "SETTLEMENT_IN_DOUBT", "IDEMPOTENCY_CONFLICT"]),
    ("post", "/v1/sales/{sale_id}/refund", "Cancel the settlement (2103) and return the goods (3506)",
     models.RefundIn, schemas.SaleOut, 200, [SALE_ID], [],
     ["NOT_FOUND", "INVALID_STATE", "PARTIAL_REFUND_UNSUPPORTED", "UPSTREAM_REFUSED", "UPSTREAM_UNAVAILABLE",
      "SETTLEMENT_IN_DOUBT"]),
    ("post", "/v1/sales/{sale_id}/resolve", "Resolve an in-doubt sale now (2601 reversal)", None, schemas.SaleOut,
     200, [SALE_ID], [], ["NOT_FOUND", "UPSTREAM_UNAVAILABLE"]),
    ("post", "/v1/sales/{sale_id}/trace-codes", "Add scanned pack codes to the sale's lines", models.TraceCodesIn,
     schemas.SaleOut, 200, [SALE_ID], [],
     ["NOT_FOUND", "INVALID_INPUT", "INVALID_STATE", "TRACE_CODE_INVALID", "TRACE_CODE_ALREADY_SOLD",
      "TRACE_CODE_CASE_VARIANT", "TRACE_CODE_PRODUCT_MISMATCH", "TRACE_CODE_EXPIRED", "TRACE_CODE_DUPLICATE",
      "TRACE_CODE_USED_UP"]),
    ("delete", "/v1/sales/{sale_id}/trace-codes", "Remove scanned pack codes", models.TraceCodesIn,
     schemas.SaleOut, 200, [SALE_ID], [], ["NOT_FOUND", "INVALID_STATE", "TRACE_CODE_NOT_ON_SALE"]),
    ("post", "/v1/sales/{sale_id}/account", "Use the personal account for an unsettled sale or not", models.AccountIn,
     schemas.SaleOut, 200, [SALE_ID], [], ["NOT_FOUND", "INVALID_INPUT", "INVALID_STATE", "ACCOUNT_REQUIRED"]),
    ("delete", "/v1/sales/{sale_id}", "Cancel an unsettled sale (its packs are released)", None,
     schemas.SaleOut, 200, [SALE_ID], [], ["NOT_FOUND", "INVALID_STATE"]),
    ("get", "/v1/sales/{sale_id}/slip.txt", "Settlement slip as text", None, None, 200, [SALE_ID], [],
     ["NOT_FOUND", "INVALID_STATE", "PRINTER_UNAVAILABLE"]),
    ("get", "/v1/sales/{sale_id}/slip.png", "Settlement slip as PNG with a Code128 barcode of setl_id", None, None,
     200, [SALE_ID], [], ["NOT_FOUND", "INVALID_STATE", "PRINTER_UNAVAILABLE"]),
    ("post", "/v1/sales/{sale_id}/print", "Print the slip on the configured printer", None, None, 200, [SALE_ID],
     [], ["NOT_FOUND", "INVALID_STATE", "PRINTER_UNAVAILABLE"]),
    ("get", "/v1/devices", "Configured devices and their states", None, schemas.DevicesOut, 200, [], [], []),
    ("post", "/v1/devices/{name}/test", "Self-test a device: wait for a scan, or print a test slip", None,
     schemas.DeviceTestOut, 200,
     [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}],
     [{"name": "timeout_s", "in": "query", "required": False, "schema": {"type": "number"}}],
     ["NOT_FOUND", "INVALID_INPUT"]),
    ("post", "/v1/devices/{name}/read", "Read a card now on a reader that is asked (a vendor's card library): the "
     "ss_card scan answer with its scan_ref, also published as event: scan", None, schemas.ScanOut, 200,
     [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}], [],
     ["NOT_FOUND", "DEVICE_CANNOT_READ", "CARD_NOT_PRESENT", "CARD_UNREADABLE", "CARD_READER_UNAVAILABLE",
      "CARD_PIN_REJECTED", "CARD_PIN_LOCKED", "CARD_PIN_CANCELLED", "DEVICE_LIBRARY_UNAVAILABLE",
      "DEVICE_LIBRARY_FAILED", "DEVICE_LIBRARY_BAD_ANSWER"]),
    ("post", "/v1/devices/{name}/verify-pin", "The patient types the card password on the reader's keypad "
     "(iVerifyPIN); the card checks it", None, schemas.DeviceTestOut, 200,
     [{"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}], [],
     ["NOT_FOUND", "DEVICE_CANNOT_READ", "CARD_NOT_PRESENT", "CARD_READER_UNAVAILABLE", "CARD_PIN_REJECTED",
      "CARD_PIN_LOCKED", "CARD_PIN_CANCELLED", "DEVICE_LIBRARY_UNAVAILABLE", "DEVICE_LIBRARY_FAILED",
      "DEVICE_LIBRARY_BAD_ANSWER"]),
    ("post", "/v1/reconciliation", "Reconcile a day with the insurer (3201 totals, 3202 details)",
     models.ReconciliationIn, None, 200, [], [], ["INVALID_INPUT", "UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED"]),
    ("get", "/v1/reports/monthly", "Monthly dual-channel report (JSON, CSV or PNG chart)", None, None, 200, [],
     [{"name": "month", "in": "query", "required": True, "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}},
      {"name": "format", "in": "query", "required": False,
       "schema": {"type": "string", "enum": ["json", "csv", "png"]}}], ["INVALID_INPUT"]),
    ("get", "/v1/events", "Server-sent events: scan, device, sale", None, None, 200, [], [], []),
    # uploads and reconciliation (docs/reconciliation.md)
    ("get", "/v1/pharmacist", "The store's pharmacists and who is on duty at this counter", None, None, 200, [],
     [], []),
    ("put", "/v1/pharmacist", "Put pharmacists on duty (the counter page's sign-in)", models.DutyIn, None, 200, [],
     [], ["INVALID_INPUT", "PHARMACIST_UNKNOWN"]),
    ("post", "/v1/sales/{sale_id}/upload-details", "Supply what the sale's uploads lack (uploads.missing)",
     models.UploadDetailsIn, schemas.SaleOut, 200, [SALE_ID], [], ["NOT_FOUND", "INVALID_INPUT",
                                                                    "PHARMACIST_UNKNOWN"]),
    ("get", "/v1/stock", "The store's stock batches (lot, production date, expiry)", None, None, 200, [],
     [{"name": "retired", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]}}],
     []),
    ("post", "/v1/stock", "Add a stock batch of a drug", models.StockIn, None, 201, [], [], ["INVALID_INPUT"]),
    ("delete", "/v1/stock/{entry_id}", "Retire a stock batch", None, None, 200,
     [{"name": "entry_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": 2 ** 63 - 1}}], [],
     ["NOT_FOUND"]),
    ("get", "/v1/outbox", "Uploads not yet delivered, each parked or waiting one with its fix", None, None, 200,
     [], [], []),
    ("post", "/v1/outbox/retry", "Send parked uploads again now (one row, or all)", models.OutboxRetryIn, None, 200,
     [], [], ["INVALID_INPUT"]),
    ("get", "/v1/reconciliation/rows", "This counter's settlements of a day, for the store's lead counter", None,
     None, 200, [], [{"name": "date", "in": "query", "required": True, "schema": {"type": "string",
                                                                                "format": "date"}}],
     ["INVALID_INPUT"]),
]


def _ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document(extra: list[tuple] | None = None) -> dict[str, Any]:
    components: dict[str, Any] = {}
    error_ref = _ref(schemas.ErrorOut, components)
    paths: dict[str, Any] = {}
    for method, path, summary, req, out, status, path_params, query, errors in ENDPOINTS + (extra or []):
        op: dict[str, Any] = {"summary": summary, "operationId": f"{method}_{path}".replace("/", "_")
                              .replace("{", "").replace("}", "").strip("_"),
                              "parameters": path_params + query + ([IDEMPOTENCY] if method in ("post", "delete")
                                                                   else [])}
        if req is not None:
            op["requestBody"] = {"required": req not in (models.SettleIn, models.RefundIn, models.OutboxRetryIn),
                                 "content": {"application/json": {"schema": _ref(req, components)}}}
        if out is not None:
            op["responses"] = {str(status): {"description": "OK",
                                             "content": {"application/json": {"schema": _ref(out, components)}}}}
        else:
            mime = {"slip.txt": "text/plain", "slip.png": "image/png", "events": "text/event-stream"}.get(
                path.rsplit("/", 1)[-1], "application/json")
            op["responses"] = {str(status): {"description": mime,
                                             "content": {mime: {"schema": {"type": "string"}
                                                                if mime != "application/json"
                                                                else {"type": "object"}}}}}
        public = path in ("/v1/health",)
        for code in errors + ([] if public else ["UNAUTHORIZED", "FORBIDDEN"]) + (
                ["RATE_LIMITED"] if path == "/v1/patients/identify" else []):
            spec = ERRORS.get(code) or REASONS[code]
            entry = op["responses"].setdefault(str(spec.http_status), {
                "description": "", "content": {"application/json": {"schema": error_ref}}})
            entry["description"] = (entry["description"] + " " + code).strip()
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "rxlane POS API", "version": current_app.extensions["rxlane"].version,
                 "description": "Local API for dual-channel (双通道) drug sales. Money is a two-decimal string. "
                                "Errors: {error: {code, message, message_zh, details}}.",
                 "x-error-codes": {c: {"status": s.http_status, "message": s.message, "message_zh": s.message_zh}
                                   for c, s in {**ERRORS, **REASONS}.items()}},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "Per-terminal token from `rxlane token create`; required when rxlane listens beyond "
                           "loopback. The `pii` scope returns unmasked personal data."}}},
        "security": [{}, {"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi():
    return json_response(document(current_app.extensions["rxlane"].extras.get("openapi_extra")))
