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
