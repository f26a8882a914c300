"""The counter page with a card reader behind the vendor's library: F5 (or the 读卡 button) reads the card and the
patient appears; no card is a Chinese message beside the scan field. Chromium, the real service, the real sandbox
and the compiled stand-in library (docs/vendor-libraries.md)."""
import pytest

from tests.e2e.conftest import ZHANG
from tests.ui.conftest import Counter

pytestmark = pytest.mark.ui


@pytest.fixture
def card_counter(chromium, service_factory, card_library, request):
    _svc, http = service_factory(devices=[{"name": "card-1", "kind": "card_reader", "driver": "sscard_lib",
                                           "library": str(card_library.path), "timeout_s": 3}])
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    counter = Counter(page, http.base, request.node.name)
    try:
        counter.open()
        yield counter
        assert not counter.errors, f"JavaScript errors on the page: {counter.errors}"
    finally:
        context.close()


def test_ui_f6_reads_the_card_through_the_library_and_shows_the_patient(card_counter, card_library):
    from playwright.sync_api import expect
    page = card_counter.page
    expect(page.locator("#status [data-action='read-card']")).to_contain_text("读卡")
    card_library.insert(ZHANG)
    card_counter.press("F5")
    expect(page.locator("#patient")).to_contain_text("张*")
    expect(page.locator("#rx-list li.rx").first).to_be_visible()
    assert ZHANG["certno"] not in page.content() and ZHANG["card_sn"] not in page.content()
    card_counter.shot("card_read")


def test_ui_no_card_on_the_reader_says_so_in_chinese(card_counter, card_library):
    from playwright.sync_api import expect
    page = card_counter.page
    card_library.remove()
    page.locator("#status [data-action='read-card']").click()
    # Shown once, beside the scan field where the pharmacist looks; the stable code rides on the message.
    expect(page.locator("#scan-msg")).to_contain_text("读卡器上没有社保卡")
    expect(page.locator("#scan-msg")).to_have_attribute("data-code", "CARD_NOT_PRESENT")
