"""HTTP plumbing shared by every blueprint: JSON in (Decimal, size and depth limits), JSON errors out in one
place, request ids, and Idempotency-Key handling for writes (docs/pos-integration.md; stripe-python's rule)."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import time
from decimal import Decimal
from typing import Any, Callable, TypeVar

import structlog
from flask import Flask, Response, current_app, g, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from plugin.errors import RxlaneError, InvalidInput
from plugin.logs import get_logger

log = get_logger("rxlane.api")
M = TypeVar("M", bound=BaseModel)
MAX_DEPTH = 8
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_REQ_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# Answers that say nothing moved and a retry may succeed (rate limit, insurer refused or away, our own fault):
# not remembered under an Idempotency-Key.
_FORGET_STATUSES = {429, 500, 502, 503}
WAIT_FOR_FIRST_S = 60.0


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


def _depth(obj: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max([_depth(v, level + 1) for v in obj.values()] or [level + 1])
    if isinstance(obj, list):
        return max([_depth(v, level + 1) for v in obj] or [level + 1])
    return level


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def body_json() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidInput("A JSON body is required.", "请求需要 JSON 内容。")
    try:
        obj = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("The body is not valid UTF-8 JSON.", "请求内容不是有效的 JSON。") from None
    if _depth(obj) > MAX_DEPTH:
        raise InvalidInput("The JSON is nested too deeply.", "JSON 嵌套层级过深。")
    return obj


def parse(model: type[M], obj: Any | None = None) -> M:
    obj = body_json() if obj is None else obj
    if not isinstance(obj, dict):
        raise InvalidInput("The body must be a JSON object.", "请求内容必须是 JSON 对象。")
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
    "must be a decimal number": "应为数字", "must be a finite amount": "应为有效金额", "must not be negative": "不能为负数",
    "must have at most two decimals": "最多两位小数", "must have at most three decimals": "最多三位小数",
    "must be greater than zero": "必须大于0", "is too large": "数值过大",
    "give cert_type and cert_no, or a scan_ref": "请提供证件类型和证件号码，或扫码凭据",
}


def _zh(kind: str, msg: str) -> str:
    return _ZH_BY_TEXT.get(msg) or _ZH_BY_TYPE.get(kind) or msg


def idempotent(view: Callable[..., Response]) -> Callable[..., Response]:
    """Same key + same request → the first answer (even after a restart); same key + other request → 409;
    a duplicate arriving while the first is still running waits for it."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not _KEY_RE.match(key):
            raise InvalidInput("Idempotency-Key must be 1–128 characters of letters, digits, '_', '-', '.', ':'.",
                               "幂等键格式不正确。", field="Idempotency-Key")
        ledger = current_app.extensions["rxlane"].ledger
        digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" +
                                request.get_data(cache=True)).hexdigest()
        deadline = time.monotonic() + WAIT_FOR_FIRST_S
        while True:
            row = ledger.idempotency.begin(key, request.method, request.path, digest)
            if row is None:
                break
            if row["body_hash"] != digest:
                raise RxlaneError("IDEMPOTENCY_CONFLICT", details={"key": key})
            if row["state"] == "done":
                return current_app.response_class(row["response_json"], status=row["status"],
                                                  mimetype="application/json",
                                                  headers={"Idempotent-Replayed": "true"})
            if time.monotonic() > deadline:
                raise RxlaneError("INVALID_STATE", message="A request with this Idempotency-Key is still running.",
                                  message_zh="相同幂等键的请求仍在处理中，请稍后查询。", details={"key": key})
            time.sleep(0.05)
        try:
            resp = view(*args, **kwargs)
        except RxlaneError as exc:
            resp = json_response(exc.to_body(), exc.http_status)
        except Exception:
            ledger.idempotency.forget(key)
            raise
        if resp.status_code in _FORGET_STATUSES:
            ledger.idempotency.forget(key)
        else:
            ledger.idempotency.finish(key, resp.status_code, resp.get_data(as_text=True))
        return resp
    return wrapper


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
        if request.path != "/v1/events":
            log.info("request", method=request.method, path=request.path[:200], status=resp.status_code,
                     ms=round((time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000, 1),
                     terminal=getattr(g, "terminal", ""))
        return resp

    @app.errorhandler(RxlaneError)
    def _rxlane(exc: RxlaneError) -> Response:
        if exc.http_status >= 500:
            log.warning("refused", method=request.method, path=request.path[:200], code=exc.code)
        return json_response(exc.to_body(), exc.http_status)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}.get(exc.code or 400,
                                                                                          "INVALID_INPUT")
        err = RxlaneError(code, http_status=exc.code if code != "INVALID_INPUT" else 400)
        return json_response(err.to_body(), err.http_status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error", method=request.method, path=request.path[:200])
        err = RxlaneError("INTERNAL", details={"request_id": getattr(g, "request_id", "")})
        return json_response(err.to_body(), 500)
