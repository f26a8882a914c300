"""`GET /` — the HQ page (every store, filters, a store's history); `/hq/static/…` — its script and style.

Rendered in Chinese with every label keyed, so the script switches to English from the same table (`i18n.json`).
No build step and no CDN: what the package ships is what runs. The page reads `/v1/hq/stores` and
`/v1/hq/stores/<id>` with the browser's credentials (the admin token as a Basic-auth password when one is set).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, render_template

from plugin import __version__
from plugin.hq.api import require_admin

HERE = Path(__file__).parent / "web"
bp = Blueprint("hq_page", __name__, template_folder="web/templates", static_folder="web/static",
               static_url_path="/hq/static")


@lru_cache(maxsize=1)
def texts() -> dict[str, dict[str, str]]:
    return json.loads((HERE / "i18n.json").read_text(encoding="utf-8"))


@bp.get("/")
def hq_page():
    require_admin()
    return render_template("hq.html", t=texts()["zh"], i18n=texts(), version=__version__)
