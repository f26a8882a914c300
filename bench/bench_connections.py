"""Connections a counter PC meets, against one `rxlane serve` (waitress, embedded sandbox, default settings).

Three loads, each held open while the API is timed (docs/reliability.md "Connections"; plugin/httpserver.py):
open `/v1/events` streams up to the cap (`[server] event_streams_max`, 256) — one more is refused at once;
idle keep-alive connections (connected, silent) up to just under `connection_limit` (1000); and both together
(256 streams + 600 idle).
While each is held: `GET /v1/health` latency (p50/p99 over 200 calls) and one whole counter flow (identify →
prescriptions → sale → presettle → settle). Baseline, same run: the same timings with nothing held.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench._rig import RemoteRxlane, SandboxSeeder, Serve, counter_flow, ms, percentile, pos_session
from tests.fault.event_streams import address_of, open_event_stream

STREAMS = 256        # the default cap
IDLE = 900           # alone: under the default connection_limit of 1000, with room for the API's own
IDLE_WITH_STREAMS = 600   # beside the streams: 856 held of the 1000


def _stream(address: tuple[str, int]) -> tuple[socket.socket, int]:
    """An open event stream and its HTTP status (0 when no status line came)."""
    s, head = open_event_stream(address, timeout=30)
    return s, int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def _timings(serve: Serve, seeder: SandboxSeeder, calls: int) -> dict:
    http = pos_session()
    health = []
    for _ in range(calls):
        started = time.perf_counter()
        r = http.get(serve.url + "/v1/health", timeout=30)
        health.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text
    started = time.perf_counter()
    counter_flow(RemoteRxlane(serve.url), seeder.patient())
    flow = time.perf_counter() - started
    return {"health_ms_p50": ms(percentile(health, 50)), "health_ms_p99": ms(percentile(health, 99)),
            "flow_ms": ms(flow)}


def run(quick: bool = False) -> dict:
    streams, idle, beside, calls = (12, 40, 20, 20) if quick else (STREAMS, IDLE, IDLE_WITH_STREAMS, 200)
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-connections-") as tmp:
        serve = _serve(Path(tmp) / "data", cap=streams)
        try:
            serve.wait_healthy(pos_session())
            seeder = SandboxSeeder(serve.sandbox_url)
            counter_flow(RemoteRxlane(serve.url), seeder.patient())     # sign-in and catalogue sync here
            address = address_of(serve.url)
            baseline = _timings(serve, seeder, calls)
            with ExitStack() as held:
                statuses = []
                for _ in range(streams):
                    s, status = _stream(address)
                    held.callback(s.close)
                    statuses.append(status)
                over, over_status = _stream(address)
                over.close()
                with_streams = _timings(serve, seeder, calls)
                with ExitStack() as idle_held:
                    for _ in range(beside):
                        idle_held.callback(socket.create_connection(address, timeout=30).close)
                    with_both = _timings(serve, seeder, calls)
            with ExitStack() as idle_held:
                for _ in range(idle):
                    idle_held.callback(socket.create_connection(address, timeout=30).close)
                with_idle = _timings(serve, seeder, calls)
            rss = serve.rss_kb()
        finally:
            stderr = serve.stop()
    return {
        "event_streams_cap": streams,
        "event_streams_held": statuses.count(200),
        "event_streams_refused_under_the_cap": streams - statuses.count(200),
        "stream_over_the_cap_answer": over_status,
        "idle_connections_held": idle,
        "idle_connections_held_beside_the_streams": beside,
        "baseline_nothing_held": baseline,
        "with_streams": with_streams,
        "with_idle": with_idle,
        "with_streams_and_idle": with_both,
        "health_p99_ratio_streams_and_idle_vs_baseline": round(
            with_both["health_ms_p99"] / max(baseline["health_ms_p99"], 0.001), 2),
        "rss_mb_after": round(rss / 1024, 1),
        "server_stderr_tracebacks": stderr.count("Traceback"),
    }


def _serve(data: Path, cap: int) -> Serve:
    """`rxlane serve` with its default 16 API workers and an event-stream cap of ``cap``."""
    os.environ["RXLANE_SERVER__EVENT_STREAMS_MAX"] = str(cap)
    try:
        return Serve(data, workers=16)
    finally:
        del os.environ["RXLANE_SERVER__EVENT_STREAMS_MAX"]


if __name__ == "__main__":
    import json
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, ensure_ascii=False))
