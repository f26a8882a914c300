"""`rxlane fleet status --from-hq URL`: the same table, JSON and exit code as polling, from HQ's database; and polling
a store whose inventory host names its port."""
from __future__ import annotations

import json

from click.testing import CliRunner

from plugin.cli import main
from plugin.fleet.simulate import SimFleet, SimStore, free_port, sample_store, write_inventory
from plugin.hq.enrolment import enroll
from tests.hq.conftest import bearer, beat


def status(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["fleet", "status", *args], env=env or {})


def test_status_from_hq_sorts_stores_as_polling_does_and_exits_1_on_trouble(hq_factory, db_url, clock):
    service, http = hq_factory(db_url, clock, admin_token="adm-1", down_after_s=600)
    tokens = {sid: enroll(service.db, sid).token for sid in ("st-00000", "st-00001", "st-00002")}
    http.post("/v1/hq/heartbeats", json=beat("st-00000", 1), headers=bearer(tokens["st-00000"]))
    http.post("/v1/hq/heartbeats", json=beat("st-00001", 1, "degraded", problems=["in_doubt_sales"], in_doubt=3),
              headers=bearer(tokens["st-00001"]))
    result = status("--from-hq", http.base, "--json", env={"RXLANE_HQ__ADMIN_TOKEN": "adm-1"})
    assert result.exit_code == 1, result.output
    answer = json.loads(result.stdout)
    assert answer["summary"] == {"stores": 3, "healthy": 1, "degraded": 1, "down": 1,
                                 "problems": {"in_doubt_sales": 1, "not_seen": 1}}
    by_id = {s["store_id"]: s for s in answer["stores"]}
    assert by_id["st-00001"]["in_doubt"] == 3 and by_id["st-00002"]["detail"] == "never seen by HQ"
    table = status("--from-hq", http.base, "--token", "adm-1")
    assert "1 healthy · 1 degraded · 1 down" in table.stdout and "never seen by HQ" in table.stdout


def test_status_from_hq_with_an_inventory_lists_a_store_hq_does_not_know_as_down(hq_factory, db_url, tmp_path):
    service, http = hq_factory(db_url)
    token = enroll(service.db, "st-00000").token
    http.post("/v1/hq/heartbeats", json=beat("st-00000", 1), headers=bearer(token))
    inv = write_inventory(tmp_path / "inv.csv", [sample_store(0), sample_store(1)])
    answer = json.loads(status(str(inv), "--from-hq", http.base, "--json").stdout)
    assert [(s["store_id"], s["state"], s["detail"]) for s in answer["stores"]] == [
        ("st-00000", "healthy", answer["stores"][0]["detail"]), ("st-00001", "down", "not enrolled at HQ")]


def test_status_from_hq_without_the_admin_token_or_hq_is_a_coded_error(hq_factory, db_url):
    _, http = hq_factory(db_url, admin_token="adm-1")
    refused = status("--from-hq", http.base)
    assert refused.exit_code == 2 and json.loads(refused.stderr)["error"]["code"] == "UNAUTHORIZED"
    gone = status("--from-hq", f"http://127.0.0.1:{free_port()}")
    assert gone.exit_code == 2 and json.loads(gone.stderr)["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert status().exit_code == 2


def test_polling_uses_the_port_written_in_the_inventory_host(tmp_path):
    port = free_port()
    with SimFleet([SimStore("127.0.0.1", port, "ok")]):
        inv = write_inventory(tmp_path / "inv.csv", [sample_store(0, host=f"127.0.0.1:{port}")])
        result = status(str(inv), "--json", "--timeout", "5")              # --port stays 8600
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stores"][0]["url"] == f"http://127.0.0.1:{port}/v1/health"
