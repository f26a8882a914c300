"""`GET /` — the counter page; `/counter/static/…` — its script and style sheet.

The page is rendered in Chinese (the pharmacist's language) with every label keyed, so the script can switch to
English from the same table (`i18n.json`) without a second template. No build step, no CDN: a counter PC may have
no Internet, and what the package ships is exactly what runs.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, render_template

HERE = Path(__file__).parent
bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static",
               static_url_path="/counter/static")


@lru_cache(maxsize=1)
def texts() -> dict[str, dict[str, str]]:
    """The label table: {"zh": {key: text}, "en": {key: text}}; Chinese is complete, English mirrors it."""
    return json.loads((HERE / "i18n.json").read_text(encoding="utf-8"))


@bp.get("/")
def counter():
    svc = current_app.extensions["rxlane"]
    store = svc.settings.store
    return render_template("counter.html", t=texts()["zh"], i18n=texts(), version=svc.version,
                           store_name=store.fixmedins_name, store_code=store.fixmedins_code)
