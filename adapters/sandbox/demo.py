"""Load the demo books (``data/demo.json``, documented in ``data/README.md``) and render the demo dual-channel list
(``data/dual-channel-list.csv``).

Dates in both files are relative — ``"today"``, ``"today-3"``, ``"today+365"``, optionally with a time
(``"today-2 09:30:00"``) — and are resolved against the books' clock (or the ``today`` given), so the demo stays
valid (and its expired prescription stays expired) whatever the date. Loading goes through the same validation as
the admin API. The list is what the province would publish for the demo drugs: its categories, payment standards
and agreement dates are the sandbox catalogue's adjudication facts (a test holds them equal).
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adapters.sandbox.books import Books, Institution
from adapters.sandbox.catalogue import add_catalog
from adapters.sandbox.filings import add_filing
from adapters.sandbox.persons import add_person
from adapters.sandbox.prescriptions import add_prescription

DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_FILE = DATA_DIR / "demo.json"
LIST_TEMPLATE = DATA_DIR / "dual-channel-list.csv"
_RELATIVE = re.compile(r"today(?:([+-])(\d+))?(?: (\d{2}:\d{2}(?::\d{2})?))?")


def resolve_date(value: str, today: date) -> str:
    """One relative date ("today+3", "today-2 09:30") as ISO text; any other text unchanged."""
    m = _RELATIVE.fullmatch(value)
    if not m:
        return value
    sign, days, clock = m.groups()
    day = today + timedelta(days=(int(days) if sign == "+" else -int(days)) if days else 0)
    if clock:
        return f"{day.isoformat()} {clock if len(clock) == 8 else clock + ':00'}"
    return day.isoformat()


def resolve_dates(value: Any, books: Books) -> Any:
    if isinstance(value, dict):
        return {k: resolve_dates(v, books) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_dates(v, books) for v in value]
    if isinstance(value, str):
        return resolve_date(value, books.today())
    return value


def demo_data(books: Books, path: Path = DEMO_FILE) -> dict[str, Any]:
    return resolve_dates(json.loads(path.read_text(encoding="utf-8")), books)


def load_demo(books: Books, path: Path = DEMO_FILE) -> None:
    data = demo_data(books, path)
    with books.lock:
        for code, inst in data.get("institutions", {}).items():
            books.institutions[code] = Institution(code, inst["fixmedins_name"], inst.get("fixmedins_type") or "1",
                                                   inst.get("hosp_lv") or "", inst.get("uscc") or "")
        books.physicians.update(data.get("physicians", {}))
        for entry in data["catalog"]:
            add_catalog(books, entry)
        for person in data["persons"]:
            add_person(books, person)
        for filing in data["filings"]:
            add_filing(books, filing)
        for rx in data["prescriptions"]:
            add_prescription(books, rx)


def demo_list_csv(today: date, template: Path = LIST_TEMPLATE) -> bytes:
    """The demo dual-channel list as a province publishes it (UTF-8 CSV, canonical Chinese headers), its relative
    dates resolved against ``today``."""
    text = template.read_text(encoding="utf-8")
    return re.sub(r"today[+-]?\d*", lambda m: resolve_date(m.group(0), today), text).encode("utf-8")
