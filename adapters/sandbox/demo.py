"""Load the demo books (``data/demo.json``, documented in ``data/README.md``).

Dates in the file are relative — ``"today"``, ``"today-3"``, ``"today+365"``, optionally with a time
(``"today-2 09:30:00"``) — and are resolved against the books' clock when loading, so the demo stays valid (and its
expired prescription stays expired) whatever the date. Loading goes through the same validation as the admin API.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.sandbox.admin import add_filing, add_prescription, person_from_mapping
from adapters.sandbox.books import Books
from plugin.eligibility import CatalogEntry

DEMO_FILE = Path(__file__).resolve().parent / "data" / "demo.json"
_RELATIVE = re.compile(r"today(?:([+-])(\d+))?(?: (\d{2}:\d{2}(?::\d{2})?))?")


def resolve_dates(value: Any, books: Books) -> Any:
    if isinstance(value, dict):
        return {k: resolve_dates(v, books) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_dates(v, books) for v in value]
    if isinstance(value, str):
        m = _RELATIVE.fullmatch(value)
        if m:
            sign, days, clock = m.groups()
            day = books.today() + timedelta(days=(int(days) if sign == "+" else -int(days)) if days else 0)
            if clock:
                return f"{day.isoformat()} {clock if len(clock) == 8 else clock + ':00'}"
            return day.isoformat()
    return value


def demo_data(books: Books, path: Path = DEMO_FILE) -> dict[str, Any]:
    return resolve_dates(json.loads(path.read_text(encoding="utf-8")), books)


def load_demo(books: Books, path: Path = DEMO_FILE) -> None:
    data = demo_data(books, path)
    with books.lock:
        books.institutions.update(data.get("institutions", {}))
        books.physicians.update(data.get("physicians", {}))
        for entry in data["catalog"]:
            books.add_catalog(CatalogEntry.from_mapping(entry))
        for person in data["persons"]:
            books.add_person(person_from_mapping(person))
        for filing in data["filings"]:
            add_filing(books, filing)
        for rx in data["prescriptions"]:
            add_prescription(books, rx)
