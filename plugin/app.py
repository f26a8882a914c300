"""`create_app(service)` → the Flask app: blueprints, error handling, the counter page. Nothing at import time."""
from __future__ import annotations

from flask import Flask

from plugin.api import (auth, devices, events, health, http, metrics, openapi, patients, reconciliation, reports,
                        sales, scans, slips, uploads)
from plugin.service import Service
from plugin.web import counter

BLUEPRINTS = (health, scans, patients, sales, slips, devices, events, reconciliation, reports, metrics, openapi,
              counter, uploads)


def create_app(service: Service) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = service.settings.server.max_body_bytes
    app.config["JSON_AS_ASCII"] = False
    app.extensions["rxlane"] = service
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False   # "//" must be a JSON 404, not an HTML redirect
    http.install(app)
    server = service.settings.server
    auth.install(app, required=server.require_tokens, identify_per_minute=server.identify_per_minute,
                 host=server.host, allowed_hosts=tuple(server.allowed_hosts),
                 allowed_origins=tuple(server.allowed_origins))
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
    return app
