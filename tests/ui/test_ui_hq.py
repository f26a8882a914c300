"""The HQ page in Debian's Chromium: every store with its state, Chinese by default with an English switch, filters
by region and problem, a store's history, a store not heard from flagged down."""
from __future__ import annotations

import pytest

from plugin.dclist import read_province_file
from plugin.dclist.columns import load_region_mapping
from plugin.hq.enrolment import enroll
from plugin.hq.published import publish
from tests.hq.conftest import Clock, bearer, beat, hq_factory  # noqa: F401 — hq_factory is a fixture used below
from tests.plugin.dclist_files import drugs, province_csv
from tests.ui.conftest import ARTIFACTS

pytestmark = pytest.mark.ui
pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed")


def store_body(store_id: str, seq: int, region: str, name: str, status: str = "ok", **extra):
    return beat(store_id, seq, status, store={"fixmedins_code": "P" + store_id[-11:].rjust(11, "0"),
                                             "fixmedins_name": name, "region": region}, **extra)


@pytest.fixture
def fleet_hq(hq_factory, tmp_path):  # noqa: F811 — the fixture imported above
    clock = Clock()
    service, http = hq_factory(f"sqlite:///{tmp_path / 'hq.sqlite3'}", clock, down_after_s=600)
    service.heads.ttl_s = 0
    tokens = {sid: enroll(service.db, sid).token for sid in ("cq-yz-0031", "jx-nc-0001", "jx-nc-0002", "jx-gz-0007")}
    post = lambda sid, body: http.post("/v1/hq/heartbeats", json=body, headers=bearer(tokens[sid]))  # noqa: E731
    assert post("jx-gz-0007", store_body("jx-gz-0007", 1, "jiangxi", "赣州店")).ok
    clock.advance(1800)                                                # jx-gz-0007 falls silent: down
    listed = read_province_file(province_csv(drugs()), "l.csv", mapping=load_region_mapping("jiangxi"),
                                categories={"A", "B", "C"}, source="赣医保字〔2026〕1号")
    head = publish(service.db, listed)
    for seq in (1, 2, 3):
        assert post("jx-nc-0001", store_body("jx-nc-0001", seq, "jiangxi", "八一店",
                                             dual_channel_list={"version": head.version})).ok
    assert post("jx-nc-0002", store_body("jx-nc-0002", 1, "jiangxi", "青山湖店", "degraded",
                                         problems=["in_doubt_sales"], in_doubt=2)).ok
    assert post("cq-yz-0031", store_body("cq-yz-0031", 1, "chongqing", "渝中店", "degraded",
                                         problems=["device_error"],
                                         devices=[{"name": "printer-1", "kind": "printer", "state": "error",
                                                   "error": "缺纸"}])).ok
    return http


def rows(page) -> dict[str, str]:
    return {r.get_attribute("data-store"): r.get_attribute("data-status")
            for r in page.locator("#stores tr").all()}


def test_the_hq_page_lists_filters_and_opens_a_stores_history_in_chinese_and_english(chromium, fleet_hq):
    context = chromium.new_context(viewport={"width": 1500, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(fleet_hq.base + "/")
        page.wait_for_selector("#stores tr[data-store]")
        assert page.locator("h1").inner_text() == "连锁总部 · 门店运行状态"
        assert rows(page) == {"cq-yz-0031": "degraded", "jx-gz-0007": "down", "jx-nc-0001": "healthy",
                              "jx-nc-0002": "degraded"}
        assert page.locator("#n-down").inner_text() == "1" and page.locator("#n-stores").inner_text() == "4"
        down = page.locator('tr[data-store="jx-gz-0007"]')
        assert "离线" in down.inner_text() and "30 分钟前" in down.inner_text() and "心跳中断" in down.inner_text()
        assert "结算待核实" in page.locator('tr[data-store="jx-nc-0002"]').inner_text()
        assert "不可达" not in page.locator('tr[data-store="jx-nc-0001"]').inner_text()
        assert "最新" in page.locator('tr[data-store="jx-nc-0001"]').inner_text()   # runs the published list
        assert "1/4" in page.locator("#list-on").inner_text()
        page.screenshot(path=str(_shot("hq_all_zh")), full_page=True)

        page.select_option("#region", "chongqing")
        shows(page, "cq-yz-0031")
        assert "设备故障" in page.locator("#stores").inner_text()
        page.select_option("#region", "")
        shows(page, "cq-yz-0031", "jx-gz-0007", "jx-nc-0001", "jx-nc-0002")
        page.select_option("#problem", "in_doubt_sales")
        shows(page, "jx-nc-0002")
        page.select_option("#problem", "down")
        shows(page, "jx-gz-0007")
        page.select_option("#problem", "")
        shows(page, "cq-yz-0031", "jx-gz-0007", "jx-nc-0001", "jx-nc-0002")

        page.locator('tr[data-store="jx-nc-0001"]').click()
        page.wait_for_selector("#history tr[data-seq]")
        assert [r.get_attribute("data-seq") for r in page.locator("#history tr").all()] == ["3", "2", "1"]
        assert "jx-nc-0001" in page.locator("#detail-title").inner_text()
        page.screenshot(path=str(_shot("hq_history_zh")), full_page=True)

        page.click("#lang")
        assert page.locator("h1").inner_text() == "Chain HQ · Store status"
        assert "Down" in page.locator('tr[data-store="jx-gz-0007"]').inner_text()
        assert "Heartbeats" in page.locator("#detail").inner_text()
        page.click("#detail-close")
        page.screenshot(path=str(_shot("hq_all_en")), full_page=True)
        page.reload()
        page.wait_for_selector("#stores tr[data-store]")
        assert page.locator("h1").inner_text() == "Chain HQ · Store status"        # the choice is remembered
        assert not errors, errors
    finally:
        context.close()


def shows(page, *stores: str) -> None:
    """Wait until the table lists exactly these stores: each filter change re-asks HQ, so a count alone can still be
    the previous filter's answer."""
    page.wait_for_function("want => [...document.querySelectorAll('#stores tr[data-store]')]"
                           ".map(r => r.dataset.store).sort().join() === want", arg=",".join(sorted(stores)))


def _shot(name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
