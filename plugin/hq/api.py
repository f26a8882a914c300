"""HQ's HTTP API (docs/hq.md). Stores push with their own token; HQ's people read with the admin token.

| method, path | who | what |
| --- | --- | --- |
| `POST /v1/hq/heartbeats` | store | health JSON + ``{store_id, seq}``; answers the current list head |
| `POST /v1/hq/reports` | store | a monthly report; 201 new, 200 duplicate, 409 ``REPORT_CONFLICT`` kept and flagged |
| `GET /v1/hq/catalog` | store, admin | the published list: ``{version, sha256, …, document}``; ETag / 304 |
| `GET /v1/hq/stores` | admin | ``{stores: [{store_id, last_seen, version, status, problems, …}], summary, …}`` |
| `GET /v1/hq/stores/<id>` | admin | one store: newest health, history, report versions |
| `GET /v1/hq/reports/chain?month=` | admin | the chain's monthly report from the pushed reports |
| `GET /v1/hq/health` | anyone | ``{status, database}``: 200 when the database answers, else 503 (load balancers) |
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from plugin import __version__
from plugin.errors import RxlaneError
from plugin.api import jsonbody
from plugin.api.render import json_response
from plugin.hq import board, heartbeats, published, pushed_reports
from plugin.hq.enrolment import check_store_id, store_of
from plugin.hq.service import Hq

bp = Blueprint("hq_api", __name__)


def hq() -> Hq:
    return current_app.extensions["rxlane_hq"]


def _credentials() -> tuple[str | None, str | None]:
    """(bearer token, basic-auth password) from the Authorization header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), None
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return None, decoded.partition(":")[2]
    return None, None


def require_admin() -> None:
    bearer, password = _credentials()
    if not hq().is_admin(bearer or password):
        raise RxlaneError("UNAUTHORIZED", "HQ's pages and store list need the admin token.",
                          "总部页面和门店列表需要管理员令牌。", details={"realm": "rxlane HQ"})


def json_body(limit: int) -> Any:
    """The request's JSON, refused over ``limit`` bytes (413) or when it is not a JSON object of sane depth."""
    if request.content_length is not None and request.content_length > limit:
        raise RxlaneError("PAYLOAD_TOO_LARGE", details={"limit_bytes": limit})
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise RxlaneError("PAYLOAD_TOO_LARGE", details={"limit_bytes": limit}) from None
    if len(raw) > limit:
        raise RxlaneError("PAYLOAD_TOO_LARGE", details={"limit_bytes": limit})
    jsonbody.require_body(raw)
    obj = jsonbody.decode(raw)
    jsonbody.require_object(obj)
    jsonbody.require_shallow(obj)
    return obj


@bp.post("/v1/hq/heartbeats")
def post_heartbeat():
    h = hq()
    beat = heartbeats.parse_beat(json_body(h.settings.max_heartbeat_bytes))
    bearer, _ = _credentials()
    answer = heartbeats.accept(h.db, bearer, beat, h.now())
    head = h.heads.get()
    return json_response({"accepted": True, "store_id": answer["store_id"], "seq": answer["seq"],
                          "received_at": board.iso(answer["received_at"]),
                          "catalog": head.to_json() if head else None})


@bp.post("/v1/hq/reports")
def post_report():
    h = hq()
    body = json_body(h.settings.max_report_bytes)
    bearer, _ = _credentials()
    with h.db.connect() as conn:
        store_id = store_of(conn, bearer)
    stored = pushed_reports.store_report(h.db, store_id, body, h.now())
    if stored.flagged and not stored.duplicate:
        conflict = RxlaneError("REPORT_CONFLICT", details={**stored.to_json(), "kept": True})
        return json_response(conflict.to_body(), conflict.http_status)
    return json_response({"accepted": True, **stored.to_json()}, 200 if stored.duplicate else 201)


@bp.get("/v1/hq/catalog")
def get_catalog():
    h = hq()
    bearer, password = _credentials()
    if not (h.admin_token and h.is_admin(bearer or password)):
        with h.db.connect() as conn:
            store_of(conn, bearer)
    head, document = published.current_document(h.db)
    etag = f'"{head.version}"'
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return current_app.response_class(status=304, headers={"ETag": etag})
    return json_response({**head.to_json(), "sha256": head.version, "document": document}, headers={"ETag": etag})


@bp.get("/v1/hq/stores")
def get_stores():
    require_admin()
    h = hq()
    head = h.heads.get()
    args = request.args
    with h.db.connect() as conn:
        out = board.board(conn, h.now(), h.settings.down_after_s, head.version if head else None,
                          region=args.get("region", "")[:32], problem=args.get("problem", "")[:32],
                          search=args.get("q", "")[:64], include_revoked=args.get("include_revoked") == "1")
    out["catalog"] = head.to_json() if head else None
    out["down_after_s"] = h.settings.down_after_s
    out["now"] = board.iso(h.now())
    return json_response(out)


@bp.get("/v1/hq/stores/<store_id>")
def get_store(store_id: str):
    require_admin()
    h = hq()
    check_store_id(store_id)
    head = h.heads.get()
    with h.db.connect() as conn:
        detail = board.store_detail(conn, store_id, h.now(), h.settings.down_after_s, head.version if head else None)
    return json_response(detail)


@bp.get("/v1/hq/reports/chain")
def get_chain_report():
    require_admin()
    return json_response(pushed_reports.chain_report(hq().db, request.args.get("month", "")[:16]))


@bp.get("/v1/hq/health")
def get_health():
    try:
        with hq().db.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        ok = True
    except sa.exc.SQLAlchemyError:
        ok = False
    return json_response({"status": "ok" if ok else "degraded", "database": ok, "version": __version__},
                         200 if ok else 503)
