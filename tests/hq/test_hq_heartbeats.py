"""`POST /v1/hq/heartbeats` on SQLite and on a real PostgreSQL: kept, idempotent by (store_id, seq), ordered; every
refusal coded, nothing written by a refused one, never a 500."""
from __future__ import annotations

import json
import random
import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from plugin.cli import main
from plugin.hq.enrolment import enroll
from plugin.hq.schema import heartbeats
from tests.hq.conftest import bearer, beat


def store(hq, store_id="jx-nc-0001", region="jiangxi"):
    service, http = hq
    return enroll(service.db, store_id, region=region).token


def history_seqs(service, store_id="jx-nc-0001") -> list[int]:
    with service.db.connect() as conn:
        return [r.seq for r in conn.execute(sa.select(heartbeats.c.seq).where(heartbeats.c.store_id == store_id)
                                            .order_by(heartbeats.c.seq))]


def listed(http, **params) -> dict:
    r = http.get("/v1/hq/stores", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_heartbeat_is_kept_and_the_store_shows_its_problems_as_fleet_status_names_them(hq):
    service, http = hq
    token = store(hq)
    r = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1), headers=bearer(token))
    assert r.status_code == 200 and r.json()["accepted"] is True and r.json()["seq"] == 1
    [shown] = listed(http)["stores"]
    assert shown["status"] == "healthy" and shown["version"] == "0.1.0" and shown["region"] == "jiangxi"
    degraded = beat("jx-nc-0001", 2, "degraded", problems=["in_doubt_sales", "outbox_parked"], in_doubt=2,
                    outbox={"pending": 3, "parked": 1, "oldest_age_s": 7200},
                    upstream={"reachable": False, "signed_in": False},
                    devices=[{"name": "printer-1", "kind": "printer", "state": "error", "error": "no paper"}])
    assert http.post("/v1/hq/heartbeats", json=degraded, headers=bearer(token)).status_code == 200
    [shown] = listed(http)["stores"]
    assert shown["status"] == "degraded" and shown["in_doubt"] == 2 and shown["outbox_parked"] == 1
    assert set(shown["problems"]) == {"in_doubt_sales", "outbox_backlog", "device_error", "upstream_unreachable"}
    assert shown["device_errors"] == 1 and shown["upstream_reachable"] is False and shown["last_seq"] == 2


def test_a_replayed_heartbeat_is_refused_with_a_code_and_stored_once(hq):
    service, http = hq
    token = store(hq)
    body = beat("jx-nc-0001", 1)
    assert http.post("/v1/hq/heartbeats", json=body, headers=bearer(token)).status_code == 200
    again = http.post("/v1/hq/heartbeats", json=body, headers=bearer(token))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "HEARTBEAT_REPLAYED" and error["details"]["same_body"] is True
    other = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1, in_doubt=5), headers=bearer(token))
    assert other.json()["error"]["details"] == {"store_id": "jx-nc-0001", "seq": 1, "last_seq": 1,
                                                "same_body": False}
    assert history_seqs(service) == [1]
    assert listed(http)["stores"][0]["in_doubt"] == 0                      # the refused body changed nothing


def test_an_older_heartbeat_after_a_newer_one_is_refused_and_never_rolls_the_state_back(hq):
    service, http = hq
    token = store(hq)
    newer = beat("jx-nc-0001", 5, "degraded", problems=["in_doubt_sales"], in_doubt=1)
    assert http.post("/v1/hq/heartbeats", json=newer, headers=bearer(token)).status_code == 200
    older = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 3), headers=bearer(token))
    assert older.status_code == 409 and older.json()["error"]["code"] == "HEARTBEAT_OUT_OF_ORDER"
    assert older.json()["error"]["details"]["last_seq"] == 5
    [shown] = listed(http)["stores"]
    assert shown["status"] == "degraded" and shown["last_seq"] == 5 and history_seqs(service) == [5]


def test_a_store_back_online_sends_what_it_missed_in_order_and_gaps_are_fine(hq):
    service, http = hq
    token = store(hq)
    for seq in (1, 2, 3, 7, 8):
        assert http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", seq), headers=bearer(token)).status_code == 200
    assert history_seqs(service) == [1, 2, 3, 7, 8]
    detail = http.get("/v1/hq/stores/jx-nc-0001").json()
    assert [h["seq"] for h in detail["history"]] == [8, 7, 3, 2, 1] and detail["health"]["seq"] == 8


def test_unknown_revoked_and_foreign_tokens_are_refused_with_codes(hq, db_url):
    service, http = hq
    token = store(hq)
    other = store(hq, "jx-nc-0002")
    assert http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1)).json()["error"]["code"] == "UNAUTHORIZED"
    unknown = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1), headers=bearer("rxhq_nobody"))
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "STORE_UNKNOWN"
    foreign = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1), headers=bearer(other))
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "FORBIDDEN"
    revoked = CliRunner().invoke(main, ["hq", "revoke", "jx-nc-0001", "--database-url", db_url], env={})
    assert revoked.exit_code == 0, revoked.output
    refused = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1), headers=bearer(token))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "STORE_REVOKED"
    assert "message_zh" in refused.json()["error"] and history_seqs(service) == []


@pytest.mark.parametrize("send, code, status", [
    (lambda h, t: h.post("/v1/hq/heartbeats", data=b"{not json", headers={**t, "Content-Type": "application/json"}),
     "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json=[1, 2], headers=t), "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json={"store_id": "jx-nc-0001", "seq": 1, "status": "fine"},
                         headers=t), "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 0), headers=t), "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", True), headers=t), "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json=beat("../etc", 1), headers=t), "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1, sent_at="yesterday"), headers=t),
     "INVALID_INPUT", 400),
    (lambda h, t: h.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1, padding="x" * 70_000), headers=t),
     "PAYLOAD_TOO_LARGE", 413),
    (lambda h, t: h.post("/v1/hq/heartbeats", data=b"[" * 5000 + b"]" * 5000,
                         headers={**t, "Content-Type": "application/json"}), "INVALID_INPUT", 400),
])
def test_bad_bodies_are_refused_with_a_code_and_write_nothing(hq, send, code, status):
    service, http = hq
    token = store(hq)
    r = send(http, bearer(token))
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert history_seqs(service) == [] and listed(http)["stores"][0]["last_seq"] == 0


def test_a_store_not_heard_from_for_the_setting_is_down_and_one_never_seen_too(hq_factory, db_url, clock):
    service, http = hq_factory(db_url, clock, down_after_s=600)
    token = enroll(service.db, "jx-nc-0001").token
    enroll(service.db, "jx-nc-0002")
    http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", 1), headers=bearer(token))
    shown = {s["store_id"]: s for s in listed(http)["stores"]}
    assert shown["jx-nc-0001"]["status"] == "healthy"
    assert shown["jx-nc-0002"]["status"] == "down" and shown["jx-nc-0002"]["problems"] == ["not_seen"]
    clock.advance(601)
    board = listed(http)
    assert board["summary"]["down"] == 2 and board["stores"][0]["seen_ago_s"] == 601
    assert [s["store_id"] for s in listed(http, problem="down")["stores"]] == ["jx-nc-0001", "jx-nc-0002"]


def test_filters_by_region_and_problem(hq):
    service, http = hq
    for n, (region, problems) in enumerate([("jiangxi", []), ("jiangxi", ["in_doubt_sales"]),
                                            ("chongqing", ["device_error"])]):
        sid = f"st-{n}"
        token = enroll(service.db, sid).token
        body = beat(sid, 1, "degraded" if problems else "ok", problems=problems,
                    store={"fixmedins_code": f"P0000000000{n}", "fixmedins_name": f"店{n}", "region": region},
                    in_doubt=1 if "in_doubt_sales" in problems else 0)
        if "device_error" in problems:
            body["devices"] = [{"name": "s", "kind": "scanner", "state": "error", "error": "unplugged"}]
        assert http.post("/v1/hq/heartbeats", json=body, headers=bearer(token)).status_code == 200
    everything = listed(http)
    assert everything["regions"] == ["chongqing", "jiangxi"] and everything["summary"]["degraded"] == 2
    assert [s["store_id"] for s in listed(http, region="jiangxi")["stores"]] == ["st-0", "st-1"]
    assert [s["store_id"] for s in listed(http, problem="in_doubt_sales")["stores"]] == ["st-1"]
    assert [s["store_id"] for s in listed(http, region="chongqing", problem="degraded")["stores"]] == ["st-2"]
    assert http.get("/v1/hq/stores", params={"problem": "sunspots"}).json()["error"]["code"] == "INVALID_INPUT"


def test_two_hq_processes_on_one_postgresql_apply_a_stores_heartbeats_in_order(hq_factory, pg_url):
    """Heartbeats 1..40 arrive shuffled at two HQ instances sharing the database: the newest wins, an older one is
    refused, none is applied twice, none fails."""
    a, http_a = hq_factory(pg_url)
    _, http_b = hq_factory(pg_url)
    token = enroll(a.db, "jx-nc-0001").token
    seqs = list(range(1, 41))
    random.Random(4).shuffle(seqs)
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def send(chunk):
        for seq in chunk:
            http = http_a if seq % 2 else http_b
            r = http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", seq, in_doubt=seq), headers=bearer(token))
            with lock:
                answers[seq] = r.status_code
            assert r.status_code in (200, 409), r.text

    threads = [threading.Thread(target=send, args=(seqs[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = sorted(s for s, code in answers.items() if code == 200)
    [shown] = listed(http_a)["stores"]
    assert shown["last_seq"] == 40 and shown["in_doubt"] == 40 and answers[40] == 200
    assert history_seqs(a) == accepted and len(answers) == 40


def test_random_bodies_never_cause_a_500(hq):
    service, http = hq
    token = store(hq)
    rng = random.Random(11)
    values = [None, True, 0, -1, 2 ** 70, 1.5, "", "x" * 300, [], {}, [{}], {"a": {"b": {"c": 1}}}, "\u0000", "😀"]
    keys = ["store_id", "seq", "status", "problems", "outbox", "in_doubt", "devices", "upstream", "version", "store",
            "sent_at", "dual_channel_list"]
    for _ in range(150):
        body = beat("jx-nc-0001", rng.randint(1, 5))
        for key in rng.sample(keys, rng.randint(1, 4)):
            body[key] = rng.choice(values)
        r = http.post("/v1/hq/heartbeats", data=json.dumps(body), headers={**bearer(token),
                                                                           "Content-Type": "application/json"})
        assert r.status_code < 500, (body, r.text)
        assert r.status_code == 200 or r.json()["error"]["code"]


def test_history_older_than_the_cut_is_pruned_and_the_stores_state_stays(hq, clock):
    from plugin.hq.heartbeats import prune
    service, http = hq
    token = store(hq)
    for seq in (1, 2, 3):
        http.post("/v1/hq/heartbeats", json=beat("jx-nc-0001", seq), headers=bearer(token))
        clock.advance(100)
    assert prune(service.db, before=clock.now - 150, batch=1) == 2          # batches of one: the loop goes on
    assert history_seqs(service) == [3] and listed(http)["stores"][0]["last_seq"] == 3
