"""`GET /metrics`: the store in Prometheus' text format, for chains that scrape their counters.

Each app gets its own ``CollectorRegistry`` (tests build many apps in one process; the global default registry would
collide). Counts come from the ledger at scrape time — sales by state, journaled messages by result — so they survive
restarts and cannot drift from the books. The one process-wide instrument is the upstream latency histogram:
``observe_upstream(infno, seconds)`` is handed to the gateway wrapper (``Upstream(on_latency=observe_upstream)``),
which has no app at hand; one rxlane process talks to one gateway, so one histogram per process is the right scope.
"""
from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

bp = Blueprint("metrics", __name__)

UPSTREAM_LATENCY = Histogram(
    "rxlane_upstream_latency_seconds", "Time for one insurer gateway call, by transaction number (infno).",
    ["infno"], registry=None,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60))
_REGISTRY_LOCK = threading.Lock()
DEVICE_STATES = ("connected", "connecting", "disconnected", "error")


def observe_upstream(infno: str, seconds: float) -> None:
    """Record one gateway call's duration (called by the gateway wrapper after every call, answered or not)."""
    UPSTREAM_LATENCY.labels(infno=str(infno)).observe(max(0.0, float(seconds)))


class StoreCollector(Collector):
    """Reads the service's books and parts at every scrape."""

    def __init__(self, svc) -> None:
        self.svc = svc

    def collect(self):
        svc = self.svc
        sales = GaugeMetricFamily("rxlane_sales", "Sales in the ledger by state (settled, refunded, in_doubt…).",
                                  labels=["state"])
        for state, n in svc.ledger.sales.count_by_state():
            sales.add_metric([state], n)
        yield sales
        journal = GaugeMetricFamily("rxlane_upstream_messages", "Journaled insurer messages by infno and result "
                                    "(answered, refused, sent = no answer yet).", labels=["infno", "result"])
        for infno, result, n in svc.ledger.journal.count_by_result():
            journal.add_metric([infno, result], n)
        yield journal
        depth = svc.outbox.depth()
        outbox = GaugeMetricFamily("rxlane_outbox", "Uploads waiting in the outbox.", labels=["state"])
        for key in ("pending", "parked", "waiting"):
            if isinstance(depth.get(key), (int, float)):
                outbox.add_metric([key], depth[key])
        yield outbox
        age = depth.get("oldest_age_s")
        yield GaugeMetricFamily("rxlane_outbox_oldest_age_seconds", "Age of the oldest waiting upload.",
                                value=float(age or 0))
        yield GaugeMetricFamily("rxlane_in_doubt_sales", "Sales whose settlement outcome is being resolved.",
                                value=len(svc.sales.in_doubt_ids()))
        devices = GaugeMetricFamily("rxlane_device_state", "1 for each device's current state.",
                                    labels=["name", "kind", "state"])
        for d in (svc.devices.states() if svc.devices is not None else []):
            for state in DEVICE_STATES:
                devices.add_metric([str(d.get("name", "")), str(d.get("kind", "")), state],
                                   1 if d.get("state") == state else 0)
        yield devices
        status = svc.upstream.status
        if status.reachable is not None:               # unknown before the first call: absent, not 0
            yield GaugeMetricFamily("rxlane_upstream_reachable", "1 when the insurer answered the last call.",
                                    value=1 if status.reachable else 0)
        yield GaugeMetricFamily("rxlane_upstream_signed_in", "1 when signed in (9001).",
                                value=1 if status.signed_in else 0)


def registry_for(app) -> CollectorRegistry:
    """The app's own registry, built on first use."""
    with _REGISTRY_LOCK:
        registry = app.extensions.get("rxlane_metrics")
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(StoreCollector(app.extensions["rxlane"]))
            registry.register(UPSTREAM_LATENCY)
            app.extensions["rxlane_metrics"] = registry
        return registry


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(registry_for(current_app)), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
