"""`create_hq_app(hq)` → the headquarters Flask app: the HQ API, the HQ page, JSON errors. Nothing at import time."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, Response, request

from plugin.api import http
from plugin.errors import RxlaneError
from plugin.hq import api, page
from plugin.hq.service import Hq
from plugin.logs import get_logger

_STORE_PUSHES = ("/v1/hq/heartbeats", "/v1/hq/reports", "/v1/hq/catalog")
log = get_logger("rxlane.hq")


def create_hq_app(hq: Hq) -> Flask:
    app = Flask(__name__, static_folder=None)
    # the largest body HQ takes is a monthly report; heartbeats have their own, smaller limit (plugin/hq/api.py)
    app.config["MAX_CONTENT_LENGTH"] = max(hq.settings.max_report_bytes, hq.settings.max_heartbeat_bytes)
    app.config["JSON_AS_ASCII"] = False
    app.extensions["rxlane_hq"] = hq
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    http.install(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(page.bp)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        if resp.status_code == 401 and request.path not in _STORE_PUSHES:
            # the browser asks for the admin token itself (any user name, the token as the password)
            resp.headers["WWW-Authenticate"] = 'Basic realm="rxlane HQ", charset="UTF-8"'
        return resp

    @app.errorhandler(sa.exc.OperationalError)
    @app.errorhandler(sa.exc.InterfaceError)
    def _database_away(exc: Exception) -> Response:
        # PostgreSQL restarted or unreachable: nothing was written; the store sends the heartbeat again
        log.warning("hq database unavailable", error=type(exc).__name__)
        err = RxlaneError("UPSTREAM_UNAVAILABLE", "HQ's database is unavailable; nothing was stored. Send again.",
                          "总部数据库暂时不可用，本次未保存，请稍后重发。", http_status=503)
        return http.json_response(err.to_body(), 503)

    return app
