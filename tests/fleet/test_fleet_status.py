"""`rxlane fleet status`: every store's /v1/health polled at once, sorted into healthy / degraded / down."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.fleet.simulate import SimFleet, SimStore, free_port, health_body, sample_store, write_inventory
from plugin.fleet.status import DEGRADED, DOWN, HEALTHY, Target, classify, poll_fleet

# 50 stores: each on its own loopback address (127.0.0.2…), all on one port, like counters all running on 8600.
DEGRADED_KINDS = ["degraded:in_doubt_sales", "degraded:outbox_parked", "degraded:device_error",
                  "degraded:upstream_unreachable", "degraded:in_doubt_sales,device_error"]
PLAN = (["ok"] * 20 + DEGRADED_KINDS * 2 + ["slow:3"] * 6 + ["garbage"] * 3 + ["error"] * 3 + ["closed"] * 8)
EXPECTED_DOWN_DETAIL = {"slow:3": "timeout", "garbage": "not JSON", "error": "HTTP 500", "closed": "connection"}


@pytest.fixture(scope="module")
def fleet_of_50():
    port = free_port()
    stores = [SimStore(f"127.0.0.{i + 2}", port, b) for i, b in enumerate(PLAN) if b != "closed"]
    with SimFleet(stores) as sim:
        yield port, sim


def test_fifty_stores_are_sorted_into_healthy_degraded_and_down_with_reasons(fleet_of_50, tmp_path):
    port, _ = fleet_of_50
    inv = write_inventory(tmp_path / "inv.csv",
                          [sample_store(i, host=f"127.0.0.{i + 2}") for i in range(len(PLAN))])
    result = CliRunner().invoke(main, ["fleet", "status", str(inv), "--json", "--port", str(port),
                                       "--timeout", "0.5", "--concurrency", "16"])
    assert result.exit_code == 1                                    # not every store is healthy
    answer = json.loads(result.stdout)
    assert answer["summary"] == {"stores": 50, "healthy": 20, "degraded": 10, "down": 20,
                                 "problems": {"device_error": 4, "in_doubt_sales": 4, "outbox_backlog": 2,
                                              "upstream_unreachable": 2}}
    by_id = {s["store_id"]: s for s in answer["stores"]}
    for i, behaviour in enumerate(PLAN):
        got = by_id[f"st-{i:05d}"]
        if behaviour == "ok":
            assert got["state"] == HEALTHY and got["problems"] == []
        elif behaviour.startswith("degraded"):
            wanted = [{"outbox_parked": "outbox_backlog"}.get(p, p) for p in behaviour.split(":")[1].split(",")]
            assert got["state"] == DEGRADED and sorted(got["problems"]) == sorted(wanted)
        else:
            assert got["state"] == DOWN and EXPECTED_DOWN_DETAIL[behaviour] in got["detail"], got


def test_table_names_the_problems_in_english_and_chinese(fleet_of_50, tmp_path):
    port, _ = fleet_of_50
    rows = [sample_store(i, host=f"127.0.0.{i + 2}") for i in (0, 20, 49)]     # ok, in-doubt, closed
    result = CliRunner().invoke(main, ["fleet", "status", str(write_inventory(tmp_path / "i.csv", rows)),
                                       "--port", str(port), "--timeout", "0.5"])
    assert "1 healthy · 1 degraded · 1 down" in result.stdout
    assert "in-doubt sales / 结算待核实" in result.stdout and "connection failed" in result.stdout


def test_all_healthy_exits_zero(fleet_of_50, tmp_path):
    port, _ = fleet_of_50
    rows = [sample_store(i, host=f"127.0.0.{i + 2}") for i in range(3)]
    result = CliRunner().invoke(main, ["fleet", "status", str(write_inventory(tmp_path / "i.csv", rows)),
                                       "--port", str(port), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["summary"]["healthy"] == 3


def test_polling_never_exceeds_the_concurrency_bound():
    port = free_port()
    stores = [SimStore(f"127.0.1.{i + 1}", port, "slow:0.1") for i in range(24)]
    with SimFleet(stores) as sim:
        results = poll_fleet([Target(f"s{i}", s.host, port) for i, s in enumerate(stores)], concurrency=4,
                             timeout=5)
        assert [r.state for r in results] == [HEALTHY] * 24
        assert sim.requests == 24 and sim.max_inflight == 4


def test_results_keep_the_inventory_order_whatever_order_answers_arrive():
    port = free_port()
    stores = [SimStore("127.0.2.1", port, "slow:0.3"), SimStore("127.0.2.2", port, "ok")]
    with SimFleet(stores):
        results = poll_fleet([Target("slow", "127.0.2.1", port), Target("fast", "127.0.2.2", port)], timeout=5)
    assert [r.store_id for r in results] == ["slow", "fast"]


def test_fields_reveal_problems_even_when_the_store_says_ok():
    body = health_body("ok") | {"in_doubt": 1, "outbox": {"pending": 4, "parked": 0, "oldest_age_s": 7300}}
    assert classify(body) == (DEGRADED, ["outbox_backlog", "in_doubt_sales"])
    assert classify(health_body("ok")) == (HEALTHY, [])


@pytest.mark.parametrize("body", [[], {"status": "fine"}, {"problems": []}, "ok"])
def test_an_answer_that_is_not_a_health_answer_is_rejected(body):
    with pytest.raises(ValueError):
        classify(body)


def test_a_real_rxlane_health_answer_is_understood(rx):
    svc, http = rx
    port = int(http.base.rsplit(":", 1)[1])
    [result] = poll_fleet([Target("real", "127.0.0.1", port)], timeout=10)
    assert result.state in (HEALTHY, DEGRADED) and result.version == svc.version
    assert result.in_doubt == 0 and result.outbox_pending is not None


def test_real_rxlane_stores_answer_fleet_status_healthy_or_degraded_with_the_reason(service_factory, sandbox_http,
                                                                                     tmp_path):
    """Two real services against the real sandbox, one of them with a sale in doubt, and one closed port."""
    from tests.e2e.conftest import identify, new_sale
    _, healthy = service_factory(tmp_path / "store-a")
    svc_b, doubtful = service_factory(tmp_path / "store-b")
    sale = new_sale(doubtful, identify(doubtful)["patient_ref"])
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    doubtful.post(f"/v1/sales/{sale['id']}/settle")
    targets = [Target("A", "127.0.0.1", int(healthy.base.rsplit(":", 1)[1])),
               Target("B", "127.0.0.1", int(doubtful.base.rsplit(":", 1)[1])),
               Target("C", "127.0.0.1", free_port())]
    states = {r.store_id: r for r in poll_fleet(targets, concurrency=3, timeout=5)}
    assert states["A"].state == HEALTHY
    assert states["B"].state == DEGRADED and any("doubt" in p for p in states["B"].problems)
    assert states["C"].state == DOWN


def test_a_store_listening_beyond_loopback_is_polled_with_the_store_token(service_factory, tmp_path):
    """Bound beyond loopback, a store answers health only with a token (docs/reliability.md): without one the
    fleet view says what is missing instead of "not a health answer"; with one the store is read as usual."""
    from plugin import tokens
    svc, http = service_factory(tmp_path / "store", server={"host": "0.0.0.0"})
    target = Target("far", "127.0.0.1", int(http.base.rsplit(":", 1)[1]))
    [refused] = poll_fleet([target], timeout=10)
    assert refused.state == DOWN and "asks for a token" in refused.detail
    _, secret = tokens.create(svc.ledger, "hq-monitor", ["sales"])
    [read] = poll_fleet([target], timeout=10, token=secret)
    assert read.state in (HEALTHY, DEGRADED) and read.version == svc.version
