"""Stores behind NAT push their health to HQ (issue 10, optional [hq] heartbeat_url)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from plugin.heartbeat import Heartbeat


class Sink(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        Sink.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_heartbeat_posts_the_health_report_when_due_and_survives_hq_being_down():
    server = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    now = [0.0]
    beat = Heartbeat(f"http://127.0.0.1:{server.server_port}/hb", 60, lambda: {"status": "ok", "store": "S1"},
                     clock=lambda: now[0])
    try:
        assert beat.beat_if_due() is True and Sink.received[-1] == {"status": "ok", "store": "S1"}
        now[0] = 30
        assert beat.beat_if_due() is False
        now[0] = 61
        assert beat.beat_if_due() is True and beat.sent == 2
    finally:
        server.shutdown()
        server.server_close()
    now[0] = 200
    assert beat.beat_if_due() is False          # HQ down: logged, never raised


def test_while_hq_is_down_heartbeats_back_off_by_the_shared_policy_and_resume_at_the_period():
    """A fleet whose HQ is away must not knock on it together when it returns (plugin/retry.py HEARTBEAT): after
    failures the next heartbeat waits at least the period, growing to the policy's cap; a success resets it."""
    from plugin.retry import HEARTBEAT
    now = [0.0]
    beat = Heartbeat("http://127.0.0.1:9/hb", 60, lambda: {"status": "ok"}, clock=lambda: now[0])   # nothing there
    waits = []
    for _ in range(10):
        assert beat.beat_if_due() is False
        waits.append(beat._wait)
        now[0] += beat._wait
    assert all(w >= 60 for w in waits) and waits[-1] >= HEARTBEAT.cap_s / 2
    assert max(waits) <= HEARTBEAT.cap_s


def test_the_hq_link_waits_the_period_normally_and_longer_while_hq_is_away():
    from plugin.heartbeat import next_wait
    assert 54 <= next_wait(60, 0) <= 66
    assert all(next_wait(60, n) >= 54 for n in range(1, 12))
    assert next_wait(60, 12) >= 900            # the policy's backoff: far longer than the period
