"""`create_hq_app(hq)` → the headquarters Flask app: the HQ API, the HQ page, JSON errors. Nothing at import time."""
from __future__ import annotations

from flask import Flask, Response, request

from plugin.api import http
from plugin.hq import api, page
from plugin.hq.service import Hq

_STORE_PUSHES = ("/v1/hq/heartbeats", "/v1/hq/reports", "/v1/hq/catalog")


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

    return app
