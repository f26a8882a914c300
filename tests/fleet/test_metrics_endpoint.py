"""`GET /metrics`: Prometheus text read from the ledger at scrape time, one registry per app."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from plugin.api.metrics import observe_upstream
from plugin.app import create_app


def scrape(http) -> dict[tuple[str, tuple], float]:
    resp = http.get("/metrics")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def test_sales_by_state_outbox_and_in_doubt_come_from_the_ledger(rx, fill_ledger):
    svc, http = rx
    fill_ledger(svc.ledger)
    samples = scrape(http)
    for state, count in svc.ledger.query("SELECT state, count(*) FROM sales GROUP BY state"):
        assert samples[("rxlane_sales", (("state", state),))] == count
    assert samples[("rxlane_in_doubt_sales", ())] == len(svc.sales.in_doubt_ids()) > 0
    depth = svc.outbox.depth()
    assert samples[("rxlane_outbox", (("state", "pending"),))] == depth["pending"]
    assert samples[("rxlane_upstream_messages", (("infno", "2102"), ("result", "refused")))] == 4


def test_upstream_latency_is_a_histogram_by_infno(rx):
    _, http = rx
    before = scrape(http).get(("rxlane_upstream_latency_seconds_count", (("infno", "9999"),)), 0)
    observe_upstream("9999", 0.2)
    observe_upstream("9999", 7.0)
    samples = scrape(http)
    assert samples[("rxlane_upstream_latency_seconds_count", (("infno", "9999"),))] == before + 2
    assert samples[("rxlane_upstream_latency_seconds_bucket", (("infno", "9999"), ("le", "0.25")))] >= 1


def test_device_states_are_one_hot(rx):
    svc, http = rx

    class TwoDevices:                      # the device manager's reporting surface: .states() and .stop()
        def states(self):
            return [{"name": "scanner-1", "kind": "scanner", "state": "connected"},
                    {"name": "printer-1", "kind": "printer", "state": "error", "error": "paper out"}]

        def stop(self):
            pass

    previous, svc.devices = svc.devices, TwoDevices()
    try:
        samples = scrape(http)
    finally:
        svc.devices = previous
    assert samples[("rxlane_device_state", (("kind", "printer"), ("name", "printer-1"), ("state", "error")))] == 1
    assert samples[("rxlane_device_state", (("kind", "printer"), ("name", "printer-1"), ("state", "connected")))] == 0
    assert samples[("rxlane_device_state", (("kind", "scanner"), ("name", "scanner-1"), ("state", "connected")))] == 1


def test_every_app_has_its_own_registry(rx):
    svc, http = rx
    apps = [create_app(svc) for _ in range(3)]
    for app in apps:
        with app.test_client() as client:
            resp = client.get("/metrics")
            assert resp.status_code == 200 and b"rxlane_sales" in resp.data or b"rxlane_in_doubt_sales" in resp.data
    assert len({id(app.extensions["rxlane_metrics"]) for app in apps}) == 3
