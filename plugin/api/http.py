"""HTTP plumbing shared by every blueprint: JSON in (its media type, Decimal, size and depth limits; the steps
in plugin/api/jsonbody.py), JSON errors out in one place, request ids, headers that forbid framing and sniffing,
and Idempotency-Key handling for writes (plugin/api/idempotency.py; docs/pos-integration.md)."""
from __future__ import annotations

import re
import secrets
import time
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from flask import Flask, Response, g, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from plugin.api import jsonbody
from plugin.api.idempotency import idempotent
from plugin.api.render import error_body, error_response, json_response
from plugin.errors import RxlaneError, InvalidInput
from plugin.logs import get_logger

__all__ = ["body_json", "idempotent", "install", "json_response", "parse"]

log = get_logger("rxlane.api")
M = TypeVar("M", bound=BaseModel)
_REQ_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: No page may frame rxlane's (clickjacking); its own page loads only its own script and style.
FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def json_media_type() -> bool:
    mimetype = request.mimetype
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def body_json() -> Any:
    """The body as JSON. Only a body declared ``application/json`` is read: a form or ``text/plain`` body is what
    a foreign web page can send without asking the browser's permission, so it is never taken for JSON."""
    raw = request.get_data(cache=True)
    jsonbody.require_body(raw)
    if not json_media_type():
        raise RxlaneError("UNSUPPORTED_MEDIA_TYPE", details={"content_type": request.mimetype[:80]})
    obj = jsonbody.decode(raw, parse_float=Decimal)
    jsonbody.require_shallow(obj)
    return obj


def parse(model: type[M], obj: Any | None = None) -> M:
    obj = body_json() if obj is None else obj
    jsonbody.require_object(obj)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p))
                        for i, p in enumerate(err["loc"])) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"{where}: {msg}", f"字段 {where} 不正确：{_zh(err['type'], msg)}", field=where) from None


#: Chinese for the validation failures a POS can cause, by pydantic error type or by our validators' wording.
_ZH_BY_TYPE = {
    "missing": "缺少必填字段", "extra_forbidden": "不支持该字段", "string_too_long": "内容过长",
    "string_too_short": "不能为空", "too_short": "不能为空", "too_long": "条目过多",
    "string_pattern_mismatch": "格式不正确", "literal_error": "取值不在允许范围内", "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false", "int_type": "应为整数", "int_parsing": "应为整数",
    "string_type": "应为文本", "list_type": "应为数组", "dict_type": "应为对象", "model_type": "应为对象",
    "greater_than_equal": "数值过小", "less_than_equal": "数值过大",
}
_ZH_BY_TEXT = {
    "must be a decimal number": "应为数字", "must be a finite amount": "应为有效金额",
    "must not be negative": "不能为负数",
    "must have at most two decimals": "最多两位小数", "must have at most three decimals": "最多三位小数",
    "must be greater than zero": "必须大于0", "is too large": "数值过大",
    "give cert_type and cert_no, or a scan_ref": "请提供证件类型和证件号码，或扫码凭据",
}


def _zh(kind: str, msg: str) -> str:
    return _ZH_BY_TEXT.get(msg) or _ZH_BY_TYPE.get(kind) or msg


def install(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQ_ID_RE.match(incoming) else secrets.token_hex(8)
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def _stamp(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = getattr(g, "request_id", "")
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = FRAMING["X-Frame-Options"]
        policy = resp.headers.get("Content-Security-Policy")
        if not policy:
            resp.headers["Content-Security-Policy"] = FRAMING["Content-Security-Policy"]
        elif "frame-ancestors" not in policy:
            resp.headers["Content-Security-Policy"] = f"{policy}; {FRAMING['Content-Security-Policy']}"
        if request.path != "/v1/events":
            log.info("request", method=request.method, path=request.path[:200], status=resp.status_code,
                     ms=round((time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000, 1),
                     terminal=getattr(g, "terminal", ""))
        return resp

    @app.errorhandler(RxlaneError)
    def _rxlane(exc: RxlaneError) -> Response:
        if exc.http_status >= 500:
            log.warning("refused", method=request.method, path=request.path[:200], code=exc.code)
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(exc.code or 400,
                                                                                          "INVALID_INPUT")
        err = RxlaneError(code, http_status=exc.code if code != "INVALID_INPUT" else 400)
        return json_response(error_body(err), err.http_status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error", method=request.method, path=request.path[:200])
        err = RxlaneError("INTERNAL", details={"request_id": getattr(g, "request_id", "")})
        return json_response(error_body(err), 500)
