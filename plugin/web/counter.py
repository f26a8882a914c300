"""`GET /` — the counter page; `/counter/static/…` — its scripts and style sheet.

The page is rendered in Chinese (the pharmacist's language) with every label keyed, so the script can switch to
English from the same table (`i18n.json`) without a second template. No build step, no CDN: a counter PC may have
no Internet, and what the package ships is exactly what runs. The page also gets the administrative division names
it shows beside a 参保地 code (`divisions.json`) and the few settings it acts on (whether the region lets a sale
leave the personal account out; the GS1 separator stand-in a scanner's Ctrl+] becomes).
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


@lru_cache(maxsize=1)
def divisions() -> dict[str, dict[str, str]]:
    """{"province": {"36": "江西省"}, "city": {"3601": "南昌市"}, "district": {"360102": "东湖区"}}."""
    data = json.loads((HERE / "divisions.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


@bp.get("/")
def counter():
    svc = current_app.extensions["rxlane"]
    store = svc.settings.store
    settings = {"account_optional": svc.policy.account_optional,
                "gs_standin": (svc.settings.scanning.gs_standins or ["\x1d"])[0]}
    return render_template("counter.html", t=texts()["zh"], i18n=texts(), version=svc.version,
                           store_name=store.fixmedins_name, store_code=store.fixmedins_code,
                           divisions=divisions(), settings=settings)
