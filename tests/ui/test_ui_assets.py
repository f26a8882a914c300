"""The counter page is served by the package itself, complete in both languages (no browser needed here)."""
from __future__ import annotations

import re
from pathlib import Path

from plugin.web.counter import HERE, texts


def test_ui_every_label_exists_in_chinese_and_english():
    table = texts()
    assert set(table["zh"]) == set(table["en"])
    assert all(table["zh"][k].strip() and table["en"][k].strip() for k in table["zh"])


def test_ui_every_key_the_page_uses_is_in_the_label_table():
    zh = texts()["zh"]
    template = (HERE / "templates" / "counter.html").read_text(encoding="utf-8")
    script = (HERE / "static" / "counter.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-placeholder)?="([a-z0-9_]+)"', template))
    used |= set(re.findall(r'\bT\("([a-z0-9_]+)"\)', script))
    assert used and used <= set(zh), sorted(used - set(zh))


def test_ui_page_and_assets_are_served_from_the_package_without_any_cdn(rx):
    _svc, http = rx
    page = http.get("/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "双通道药品医保结算" in page.text and 'id="scan"' in page.text
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"counter.js", "counter.css"}
    for asset in assets:
        assert http.get(asset).status_code == 200, asset
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)


def test_ui_package_folders_ship_with_setuptools_package_data():
    """pyproject's package-data globs match files directly in a package: templates/ and static/ are packages."""
    for folder in ("templates", "static"):
        assert (HERE / folder / "__init__.py").is_file()
    assert Path(HERE / "i18n.json").is_file()
