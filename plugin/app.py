"""`create_app(service)` → the Flask app: blueprints, error handling, the counter page. Nothing at import time."""
from __future__ import annotations

import importlib

from flask import Flask

from plugin.api import auth, events, health, http, openapi, patients, sales, scans
from plugin.service import Service


# Blueprints that arrive with their feature; each module exposes `bp`.
OPTIONAL_BLUEPRINTS = ("plugin.api.slips", "plugin.api.devices", "plugin.api.reports", "plugin.api.metrics",
                       "plugin.api.reconciliation", "plugin.web.counter")


def create_app(service: Service) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = service.settings.server.max_body_bytes
    app.config["JSON_AS_ASCII"] = False
    app.extensions["rxlane"] = service
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False   # "//" must be a JSON 404, not an HTML redirect
    http.install(app)
    auth.install(app, required=service.settings.server.tokens_required,
                 identify_per_minute=service.settings.server.identify_per_minute)
    for module in (health, scans, patients, sales, events, openapi):
        app.register_blueprint(module.bp)
    for name in OPTIONAL_BLUEPRINTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.register_blueprint(module.bp)
    return app
