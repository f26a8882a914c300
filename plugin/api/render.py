"""Answers as JSON: one way to render a body, one way to render a refusal.

A refusal's details may quote what the caller sent (a sale id, a drug code); whatever was sent, an answer never
echoes an ID number, a card number or a token in full (plugin/privacy.py ``scrub_data``).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from flask import Response, current_app

from plugin.errors import RxlaneError
from plugin.privacy import scrub_data


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, default=_default)
    resp = current_app.response_class(text, status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def error_body(exc: RxlaneError) -> dict[str, Any]:
    body = exc.to_body()
    return scrub_data(body)  # type: ignore[return-value]


def error_response(exc: RxlaneError) -> Response:
    headers = {}
    retry = exc.details.get("retry_after_s") if isinstance(exc.details, dict) else None
    if isinstance(retry, int):
        headers["Retry-After"] = str(retry)
    return json_response(error_body(exc), exc.http_status, headers)
