"""A web page open in the pharmacist's browser must not be able to drive rxlane (docs/reliability.md, "Who may
call"). Each attack runs in Debian's Chromium against a real rxlane on loopback with a settled sale:

- a page of another origin on this machine (another local web app; the request is cross-origin, same-site) posts
  the refund as ``text/plain`` and as a form — the requests a browser sends without asking anyone;
- the same page frames the counter page (clickjacking);
- DNS rebinding: scripts of the origin ``rebind.test:<port>``, whose name now points at 127.0.0.1, call rxlane
  "same-origin" — Chromium's ``--host-resolver-rules`` plays the flipped DNS answer.

The sale must still be settled afterwards and nothing of it readable by the page.
"""
from __future__ import annotations

import http.server
import threading
import time
from typing import Any
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import identify, new_sale
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS

pytestmark = pytest.mark.ui


@pytest.fixture
def settled(rx) -> tuple[Any, str]:
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 200, r.text
    return http, sale["id"]


class _Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802 — http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker_site() -> Iterator[Any]:
    """Another web server on this machine (another port: another origin, the same site)."""
    class Handler(_Attacker):
        pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _wait_for(page: Any, flag: str) -> None:
    page.wait_for_function(f"window.{flag} === true", timeout=STEP_TIMEOUT_MS)


def test_a_foreign_page_cannot_refund_with_a_text_plain_fetch_or_a_form_post(chromium, settled, attacker_site):
    http, sale_id = settled
    handler, origin = attacker_site
    target = f"{http.base}/v1/sales/{sale_id}/refund"
    handler.page = f"""<!doctype html><meta charset="utf-8"><body>
<form id="f" method="POST" action="{target}" enctype="text/plain" target="sink">
  <input name='{{"reason":"attack","x":"' value='"}}'></form>
<iframe name="sink"></iframe>
<script>
(async () => {{
  try {{
    await fetch("{target}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                               body: JSON.stringify({{reason: "attack"}})}});
  }} catch (e) {{}}
  try {{
    await fetch("{target}", {{method: "POST", mode: "no-cors", body: "reason=attack",
                               headers: {{"Content-Type": "application/x-www-form-urlencoded"}}}});
  }} catch (e) {{}}
  document.getElementById("f").submit();
  setTimeout(() => {{ window.done = true; }}, 1500);
}})();
</script>""".encode()
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(origin + "/")
        _wait_for(page, "done")
    finally:
        context.close()
    sale = http.get(f"/v1/sales/{sale_id}").json()
    assert sale["state"] == "settled" and sale["refund"] is None


def test_a_foreign_page_cannot_frame_the_counter_page(chromium, settled, attacker_site):
    http, _ = settled
    handler, origin = attacker_site
    handler.page = f"""<!doctype html><body><iframe id="c" src="{http.base}/" width="800" height="600"></iframe>
<script>document.getElementById("c").onload = () => {{ window.done = true; }};</script>""".encode()
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(origin + "/")
        _wait_for(page, "done")
        frame = page.frame_locator("#c")
        assert frame.locator("#status").count() == 0           # the counter page never rendered inside it
        inner = [f for f in page.frames if f is not page.main_frame]
        assert all(not f.url.startswith(http.base) or f.url.startswith("chrome-error") for f in inner) or \
            all(f.locator("#status").count() == 0 for f in inner)
    finally:
        context.close()


@pytest.fixture
def rebinding_browser(chromium) -> Iterator[Any]:
    """Chromium whose DNS answers rebind.test with 127.0.0.1: what a rebinding attacker's DNS does after the first
    load of its page."""
    browser = chromium.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.test 127.0.0.1"])
    yield browser
    browser.close()


def test_dns_rebinding_cannot_list_refund_or_listen_to_sales(rebinding_browser, settled):
    http, sale_id = settled
    port = http.base.rsplit(":", 1)[1]
    origin = f"http://rebind.test:{port}"
    context = rebinding_browser.new_context()
    try:
        page = context.new_page()
        # the name now points at 127.0.0.1: whatever the attacker's page had loaded, its scripts run in the origin
        # rebind.test:<port> and reach rxlane "same-origin" — played here by running them in that origin
        page.goto(f"{origin}/")
        page.evaluate(f"""() => {{
window.results = {{}};
(async () => {{
  const grab = async (name, path, init) => {{
    try {{ const r = await fetch(path, init); window.results[name] = [r.status, await r.text()]; }}
    catch (e) {{ window.results[name] = [0, String(e)]; }}
  }};
  await grab("list", "/v1/sales");
  await grab("sale", "/v1/sales/{sale_id}");
  await grab("refund", "/v1/sales/{sale_id}/refund",
             {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: '{{"reason": "attack"}}'}});
  const es = new EventSource("/v1/events");
  es.onmessage = es.onopen = () => {{ window.results.events = "open"; }};
  es.onerror = () => {{ window.results.events = window.results.events || "refused"; es.close(); }};
  setTimeout(() => {{ window.done = true; }}, 1500);
}})();
}}""")
        _wait_for(page, "done")
        results = page.evaluate("window.results")
    finally:
        context.close()
    for name in ("list", "sale", "refund"):
        status, body = results[name]
        assert status == 421 and "HOST_NOT_ALLOWED" in body and sale_id not in body, (name, status, body[:200])
    assert results.get("events") == "refused"
    time.sleep(0.2)
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "settled"


def test_the_counter_pages_own_calls_still_work(counter, rx):
    """The page itself (same origin, JSON bodies) is what the guards must let through: a scan reaches the API."""
    _, http = rx
    counter.scan("360121196805122010")
    counter.page.wait_for_selector("#rx-list li.rx", timeout=STEP_TIMEOUT_MS)
