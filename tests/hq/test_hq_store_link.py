"""The store's side (plugin/heartbeat.py): a real rxlane service pushing to a real HQ — numbered heartbeats kept
across restarts and outages, the published list pulled, checked and installed, the monthly report pushed."""
from __future__ import annotations

import json
import socket
import stat
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from plugin.api.health import health_report
from plugin.dclist import install_document, load_installed_list, read_province_file
from plugin.dclist.columns import load_region_mapping
from plugin.heartbeat import HqLink, previous_month
from plugin.hq.enrolment import enroll, revoke
from plugin.hq.published import publish
from plugin.hq.schema import heartbeats, reports
from plugin.reports import monthly
from tests.fleet.conftest import fill_month, insert_sale
from tests.hq.conftest import beat
from tests.pgcluster import free_port
from tests.plugin.dclist_files import drugs, province_csv

STORE = {"fixmedins_code": "P36010200001", "fixmedins_name": "示例大药房（八一店）", "region": "jiangxi"}


@pytest.fixture
def hq_sqlite(hq_factory, tmp_path):
    service, http = hq_factory(f"sqlite:///{tmp_path / 'hq' / 'hq.sqlite3'}")
    service.heads.ttl_s = 0
    return service, http


def link_for(svc, url: str, token: str, **kw) -> HqLink:
    data_dir = Path(svc.settings.server.data_dir)
    return HqLink(url=url, token=token, store_id="jx-nc-0001", data_dir=data_dir,
                  list_target=data_dir / "dual-channel-list.json", health=lambda: health_report(svc),
                  monthly=lambda month: monthly(svc.ledger, month, STORE), **kw)


def seqs(service, table=heartbeats) -> list[int]:
    with service.db.connect() as conn:
        return [r.seq for r in conn.execute(sa.select(table.c.seq).order_by(table.c.seq))]


def imported(rows):
    return read_province_file(province_csv(rows), "l.csv", mapping=load_region_mapping("jiangxi"),
                              categories={"A", "B", "C"}, source="赣医保字〔2026〕1号")


def test_heartbeats_are_numbered_and_the_number_survives_a_restart(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    link = link_for(svc, http.base, token)
    assert link.beat().delivered == [1] and link.beat().delivered == [2]
    again = link_for(svc, http.base, token)                         # the service restarted
    assert again.beat().delivered == [3] and seqs(service) == [1, 2, 3]
    state = Path(svc.settings.server.data_dir) / "hq-link.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600 and json.loads(state.read_text())["next_seq"] == 4
    shown = http.get("/v1/hq/stores").json()["stores"][0]
    assert shown["status"] == "healthy" and shown["fixmedins_code"] == "P36010200001"


def test_a_store_offline_keeps_its_heartbeats_and_sends_them_in_order_when_hq_is_back(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    link = link_for(svc, f"http://127.0.0.1:{free_port()}", token)     # nothing listens there: HQ is down
    for n in (1, 2, 3):
        result = link.beat()
        assert result.unreachable and result.pending == n
    link.url = http.base
    result = link.beat()
    assert result.delivered == [1, 2, 3, 4] and result.pending == 0 and seqs(service) == [1, 2, 3, 4]


def test_a_heartbeat_hq_got_but_whose_answer_was_lost_counts_as_delivered(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    link = link_for(svc, http.base, token)
    entry = link.state.enqueue({**health_report(svc), "store_id": "jx-nc-0001"})
    assert http.post("/v1/hq/heartbeats", json=entry, headers={"Authorization": f"Bearer {token}"}).ok
    result = link.beat()                                            # seq 1 again: replayed, same body
    assert result.delivered == [2] and result.pending == 0 and seqs(service) == [1, 2]


def test_a_store_that_lost_its_state_numbers_on_after_hqs_newest(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    link = link_for(svc, http.base, token)
    for _ in range(3):
        link.beat()
    (Path(svc.settings.server.data_dir) / "hq-link.json").unlink()    # a restored backup, a wiped disk
    restored = link_for(svc, http.base, token)
    restored.health = lambda: {**health_report(svc), "version": "0.1.1"}     # its seq 1 is not HQ's seq 1
    result = restored.beat()
    assert result.delivered == [4] and seqs(service) == [1, 2, 3, 4]


def test_the_published_list_is_pulled_verified_installed_and_reported(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    link = link_for(svc, http.base, token)
    assert link.beat().list_installed is None                        # nothing published yet
    head = publish(service.db, imported(drugs()))
    result = link.beat()
    assert result.list_installed == head.version
    installed = load_installed_list(svc.settings.server.data_dir)
    assert installed.document_sha256 == head.version and len(installed) == 3
    assert http.get("/v1/hq/stores").json()["stores"][0]["list_current"] is False   # it reported the old one…
    link.beat()
    shown = http.get("/v1/hq/stores").json()
    assert shown["stores"][0]["list_current"] is True and shown["summary"]["list_current"] == 1   # …now the new one
    assert link.beat().list_installed is None                        # same version: not downloaded again


class LyingHq(BaseHTTPRequestHandler):
    """An HQ whose download does not match the version it advertises (a proxy that mangles, a bad mirror)."""

    advertised = "0" * 64
    document = ""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._json(200, {"accepted": True, "catalog": {"version": self.advertised, "url": "/v1/hq/catalog"}})

    def do_GET(self):
        self._json(200, {"version": self.advertised, "sha256": self.advertised, "document": self.document})

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_downloaded_list_whose_hash_does_not_match_is_refused_and_the_old_one_stays(rx):
    svc, _ = rx
    data_dir = Path(svc.settings.server.data_dir)
    old = imported(drugs(1))
    install_document(data_dir / "dual-channel-list.json", old.document)
    before = (data_dir / "dual-channel-list.json").read_bytes()
    LyingHq.document = imported(drugs()).document.decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), LyingHq)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        link = link_for(svc, f"http://127.0.0.1:{server.server_port}", "rxhq_x")
        result = link.beat()
        assert result.list_installed is None and "is not the published" in result.list_error
        assert (data_dir / "dual-channel-list.json").read_bytes() == before
        assert link._list_info()["error"] and link._list_info()["version"] == old.list.document_sha256
    finally:
        server.shutdown()
        server.server_close()


def test_the_previous_months_report_is_pushed_once_and_again_when_its_figures_change(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    fill_month(svc.ledger, "2026-11", seed=5, days=5)
    link = link_for(svc, http.base, token, today=lambda: date(2026, 12, 3), report_check_s=0)
    assert link.beat().reports_pushed == ["2026-11"]
    assert link.beat().reports_pushed == []                          # the same figures are not pushed again
    import random
    insert_sale(svc.ledger, "LATE-1", "2026-11-30", "settled", "PSN9999", [("XJ01", "奥希替尼", "B", "5000.00", "1")],
                ("H36010000001", "江西省人民医院"), random.Random(1))
    assert link.beat().reports_pushed == ["2026-11"]                 # HQ keeps both and flags the month
    with service.db.connect() as conn:
        kept = conn.execute(sa.select(reports.c.version, reports.c.flagged).order_by(reports.c.version)).all()
    assert [(k.version, k.flagged) for k in kept] == [(1, True), (2, True)]
    chain = http.get("/v1/hq/reports/chain", params={"month": "2026-11"}).json()
    assert chain["flagged"] == [{"store_id": "jx-nc-0001", "versions": 2, "used_version": 2}]


def test_a_revoked_store_keeps_its_heartbeats_waiting(rx, hq_sqlite):
    svc, _ = rx
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    link = link_for(svc, http.base, token)
    link.beat()
    revoke(service.db, "jx-nc-0001")
    result = link.beat()
    assert result.refused == "STORE_REVOKED" and result.pending == 1


def test_a_hanging_hq_does_not_hold_up_the_counter(rx):
    svc, http = rx
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)                                                  # accepts connections, never answers
    try:
        link = link_for(svc, f"http://127.0.0.1:{hole.getsockname()[1]}", "rxhq_x", timeout_s=3)
        done: list = []
        beating = threading.Thread(target=lambda: done.append(link.beat()))
        beating.start()
        assert http.get("/v1/health").status_code == 200             # while the heartbeat waits on HQ
        assert http.post("/v1/scans", json={"raw": "81234567890123456789"}).status_code == 200
        beating.join(30)
        assert done and done[0].unreachable and done[0].pending == 1
    finally:
        hole.close()


def test_the_service_starts_the_link_in_its_own_thread_from_hq_url_and_token(service_factory, hq_sqlite, tmp_path):
    service, http = hq_sqlite
    token = enroll(service.db, "jx-nc-0001").token
    token_file = tmp_path / "hq.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    svc, _ = service_factory(hq={"url": http.base, "token_file": str(token_file), "store_id": "jx-nc-0001",
                                 "heartbeat_s": 10})
    svc.start_background()
    link = svc.extras["hq_link"]
    assert link is not None and link._thread.name == "rxlane-hq-link" and link._thread.is_alive()
    assert link.beat().delivered                                     # the token from the 0600 file works
    token_file.chmod(0o644)
    from plugin.heartbeat import hq_token
    assert hq_token(svc.settings) == ""                              # a token file others can read is not used


def test_previous_month_crosses_the_year():
    assert previous_month(date(2027, 1, 5)) == "2026-12" and previous_month(date(2026, 12, 1)) == "2026-11"


def test_beat_bodies_are_what_hq_takes(rx):
    svc, _ = rx
    from plugin.hq.heartbeats import parse_beat
    parsed = parse_beat({**health_report(svc), **beat("jx-nc-0001", 1, store=STORE)})
    assert parsed.store_id == "jx-nc-0001" and parsed.region == "jiangxi"
