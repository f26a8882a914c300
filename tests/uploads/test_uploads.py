"""Uploads after a sale against the strict sandbox (docs/reconciliation.md "Uploads", "Refusals"): one selinfo per
3505 with every required field from its source, waiting visibly for what is missing, refusals parked at once and
shown on the sale, in health and by `rxlane outbox`, transient failures retried, refunds returning what was
reported and reopening nothing."""
from __future__ import annotations

import json

from click.testing import CliRunner

from plugin.cli import main
from tests.uploads.conftest import CHEN, LI, OSIMERTINIB, fresh_codes

BATCH = {"lot": "B2409117", "manu_date": "2024-09-11", "expy_end": "2027-08-31"}


def outbox_cli(counter, *args: str) -> dict:
    result = CliRunner().invoke(main, ["outbox", "--data-dir", str(counter.svc.ledger.path.parent), *args],
                                env={"RXLANE_NHSA__URL": counter.svc.gateway_url})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- what a sale reports ---------------------------------------------------------------------------------------
def test_a_sale_reports_its_packs_with_the_pharmacist_on_duty_and_its_prescription_is_dispensed(counter):
    sale = counter.sell(2)
    assert counter.svc.outbox.drain() == 3                     # 3505, 7204, 7206
    [upload] = counter.uploads_of(sale)
    assert sorted(upload["codes"]) == sorted(sale["lines"][0]["trace_codes"])
    assert (upload["items"], upload["lots"], upload["phar_name"]) == (1, ["B2409117"], "李志强")
    view = counter.sale(sale["id"])
    assert view["uploads"]["state"] == "done" and view["uploads"]["missing"] == []
    insurer = counter.insurer()
    [review] = [r for r in counter.books.reviews if r["hi_rxno"] == sale["hi_rxno"]]
    assert (review["phar_name"], review["rchk_phar_name"]) == ("李志强", "陈立")
    [rx] = [p for p in insurer["prescriptions"] if p["hi_rxno"] == sale["hi_rxno"]]
    assert rx["status"] == "dispensed"
    assert counter.health()["status"] == "ok"


def test_a_line_without_its_lot_waits_names_what_is_missing_and_leaves_once_it_is_supplied(counter_factory):
    counter = counter_factory(stock=False)
    sale = counter.sell(1)
    counter.svc.outbox.drain()
    uploads = counter.sale(sale["id"])["uploads"]
    assert uploads["state"] == "waiting"
    by_line = {m["line_no"]: m for m in uploads["missing"]}
    assert by_line[1]["fields"] == ["lot", "manu_date", "expy_end", "prdr_name"]   # prdr_name: for 7206
    assert by_line[1]["for"] == ["3505", "7206"]
    assert counter.uploads_of(sale) == []                      # nothing was sent blind
    health = counter.health()
    assert health["status"] == "degraded" and "upload_details_missing" in health["problems"]
    assert any(p["sale_id"] == sale["id"] for p in health["outbox"]["problems"])
    r = counter.http.post(f"/v1/sales/{sale['id']}/upload-details",
                          {"lines": [{"line_no": 1, **BATCH, "prdr_name": "示例制药有限公司"}]})
    assert r.status_code == 200, r.text
    counter.svc.outbox.drain()
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"
    assert counter.uploads_of(sale)[0]["lots"] == ["B2409117"]
    assert "upload_details_missing" not in counter.health()["problems"]


def test_the_pos_line_gives_the_batch_and_a_sale_with_nobody_on_duty_asks_for_the_pharmacist(counter_factory):
    counter = counter_factory(duty=False)
    sale = counter.sell(1, lot="L777", manu_date="2025-01-02", expy_end="2027-01-01")
    counter.svc.outbox.drain()
    missing = counter.sale(sale["id"])["uploads"]["missing"]
    assert [(m["line_no"], m["fields"]) for m in missing] == [(None, ["pharmacist", "checker"]), (1, ["prdr_name"])]
    r = counter.http.post(f"/v1/sales/{sale['id']}/upload-details", {"pharmacist": "ZY-NOBODY"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "PHARMACIST_UNKNOWN"
    r = counter.http.post(f"/v1/sales/{sale['id']}/upload-details",
                          {"pharmacist": LI, "checker": CHEN, "lines": [{"line_no": 1, "prdr_name": "示例制药"}]})
    assert r.status_code == 200, r.text
    counter.svc.outbox.drain()
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"
    assert counter.uploads_of(sale)[0]["lots"] == ["L777"]


def test_duty_is_chosen_from_the_roster_and_a_sale_keeps_who_was_on_duty_when_it_was_settled(counter):
    r = counter.http.put("/v1/pharmacist", {"pharmacist": "ZY-NOBODY"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "PHARMACIST_UNKNOWN"
    shown = counter.http.get("/v1/pharmacist").json()
    assert [p["prac_cert_no"] for p in shown["roster"]] == [LI, CHEN]
    assert all("*" in p["certno"] for p in shown["roster"])   # ID numbers masked
    sale = counter.sell(1)
    counter.http.put("/v1/pharmacist", {"pharmacist": CHEN})     # the shift changes before the upload leaves
    counter.svc.outbox.drain()
    assert counter.uploads_of(sale)[0]["phar_name"] == "李志强"


# -- refusals ------------------------------------------------------------------------------------------------------
def test_a_business_refusal_parks_at_once_and_shows_on_the_sale_in_health_and_in_the_outbox(counter):
    sale = counter.sell(1, lot="B1", manu_date="2023-01-01", expy_end="2024-01-31")   # sold past its expiry
    counter.svc.outbox.drain()
    uploads = counter.sale(sale["id"])["uploads"]
    assert uploads["state"] == "refused"
    [refusal] = uploads["refused"]
    assert refusal["infno"] == "3505" and "过期" in refusal["err_msg"]
    assert refusal["fix"]["code"] == "UPLOAD_REFUSED"
    row = counter.svc.ledger.outbox.get(refusal["id"])
    assert (row.state, row.attempts) == ("parked", 1)          # parked after the one answer, never retried
    health = counter.health()
    assert health["status"] == "degraded" and "upload_refused" in health["problems"]
    named = next(p for p in health["outbox"]["problems"] if p["id"] == refusal["id"])
    assert named["sale_id"] == sale["id"] and "过期" in named["error"]
    listed = outbox_cli(counter)
    [parked] = [r for r in listed["rows"] if r["id"] == refusal["id"]]
    assert parked["state"] == "parked" and parked["fix"]["message_zh"].startswith("医保中心拒收")
    journal = [j for j in counter.sale(sale["id"])["journal"] if j["infno"] == "3505"]
    assert [(j["state"], j["infcode"]) for j in journal] == [("refused", 0)]


def test_the_same_pack_sold_at_another_pharmacy_is_refused_for_good_not_retried(counter_factory):
    first = counter_factory("first")
    other = counter_factory("other", store={"fixmedins_code": "P36010200077"})
    codes = fresh_codes(1)
    first.sell(1, codes=codes)
    first.svc.outbox.drain()
    sale = other.sell(1, codes=codes)
    other.svc.outbox.drain()
    [refusal] = other.sale(sale["id"])["uploads"]["refused"]
    assert "已销售" in refusal["err_msg"]
    assert other.svc.ledger.outbox.get(refusal["id"]).attempts == 1


def test_a_refusal_that_may_pass_is_retried_as_a_new_message_with_backoff(counter):
    counter.sandbox_http.post("/sandbox/faults", {"infno": "3505", "mode": "error", "times": 1,
                                                  "err_msg": "医保中心系统繁忙，请稍后再试"})
    sale = counter.sell(1)
    counter.svc.outbox.drain()
    [row] = [r for r in counter.svc.ledger.outbox.for_sale(sale["id"]) if r.infno == "3505"]
    assert (row.state, row.attempts, row.msgid) == ("pending", 1, None)
    assert row.next_at > row.created_at                        # not due at once: backoff
    assert counter.sale(sale["id"])["uploads"]["state"] == "sending"
    counter.svc.outbox.retry(row.id)
    counter.svc.outbox.drain()
    journal = [j for j in counter.sale(sale["id"])["journal"] if j["infno"] == "3505"]
    assert [j["state"] for j in journal] == ["refused", "answered"] and len({j["msgid"] for j in journal}) == 2
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"


def test_a_lost_answer_is_sent_again_under_the_same_msgid_and_counted_once(counter):
    counter.sandbox_http.post("/sandbox/faults", {"infno": "3505", "mode": "drop_response", "times": 1})
    sale = counter.sell(1)
    counter.svc.outbox.drain()
    [row] = [r for r in counter.svc.ledger.outbox.for_sale(sale["id"]) if r.infno == "3505"]
    assert row.state == "pending" and row.msgid
    counter.svc.outbox.retry(row.id)
    counter.svc.outbox.drain()
    assert counter.svc.ledger.outbox.get(row.id).state == "done"
    assert len(counter.uploads_of(sale)) == 1                  # the insurer took it once


def test_rxlane_outbox_retry_sends_a_parked_row_again_after_the_cause_is_fixed(counter):
    counter.sandbox_http.post("/sandbox/faults", {"infno": "3505", "mode": "error", "times": 1,
                                                  "err_msg": "药品目录编码未对照（示例）"})
    sale = counter.sell(1)
    counter.svc.outbox.drain()
    [row] = [r for r in counter.svc.ledger.outbox.for_sale(sale["id"]) if r.infno == "3505"]
    assert (row.state, row.reason) == ("parked", "UPLOAD_REFUSED")
    done = outbox_cli(counter, "--retry", "--id", str(row.id))
    assert done["made_due"] == 1 and done["delivered"] >= 1
    assert done["gateway"]["url"] == counter.svc.gateway_url
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"


# -- refunds -------------------------------------------------------------------------------------------------------
def test_a_refund_returns_what_was_reported_and_leaves_the_prescription_dispensed(counter):
    sale = counter.sell(2)
    counter.svc.outbox.drain()
    r = counter.http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"})
    assert r.status_code == 200, r.text
    counter.svc.outbox.drain()
    [back] = counter.uploads_of(sale, "3506")
    assert sorted(back["codes"]) == sorted(counter.uploads_of(sale)[0]["codes"])
    [rx] = [p for p in counter.insurer()["prescriptions"] if p["hi_rxno"] == sale["hi_rxno"]]
    assert rx["status"] == "dispensed"                         # nothing invented reopens it
    journal = counter.sale(sale["id"])["journal"]
    assert [j["infno"] for j in journal].count("7206") == 1
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"


def test_a_dispensing_result_refused_after_a_refund_does_not_take_the_packs_return_with_it(counter):
    # the 3505 and 7204 went out; the 7206 is at the insurer when the sale is refunded (its 3506 is queued) and comes
    # back refused (the settlement is cancelled): it is superseded, yet the 3506 still returns the packs the 3505
    # reported, or the insurer would hold them as sold (found by the fault rig's refund.after_answer crash point)
    import threading
    sale = counter.sell(1)
    counter.sandbox_http.post("/sandbox/faults", {"infno": "7206", "mode": "slow", "times": 1, "delay_ms": 1500})
    drain = threading.Thread(target=counter.svc.outbox.drain)
    drain.start()
    while not any(r.msgid for r in counter.svc.ledger.outbox.for_sale(sale["id"]) if r.infno == "7206"):
        pass
    assert counter.http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"}).status_code == 200
    drain.join(timeout=30)
    counter.svc.outbox.drain()
    states = {r.infno: r.state for r in counter.svc.ledger.outbox.for_sale(sale["id"])}
    assert (states["3505"], states["7206"], states["3506"]) == ("done", "superseded", "done"), states
    [back] = counter.uploads_of(sale, "3506")
    assert sorted(back["codes"]) == sorted(counter.uploads_of(sale)[0]["codes"])


def test_a_refund_before_anything_left_sends_nothing_and_the_prescription_stays_open(counter):
    sale = counter.sell(1)
    assert counter.http.post(f"/v1/sales/{sale['id']}/refund").status_code == 200
    counter.svc.outbox.drain()
    assert counter.uploads_of(sale) == [] and counter.uploads_of(sale, "3506") == []
    [rx] = [p for p in counter.insurer()["prescriptions"] if p["hi_rxno"] == sale["hi_rxno"]]
    assert rx["status"] == "valid"
    assert counter.sale(sale["id"])["uploads"]["state"] == "none"


# -- the profile's forms -------------------------------------------------------------------------------------------
def test_a_province_on_3505a_gets_one_batch_of_the_sales_items_in_selinfodetail(counter_factory, tmp_path):
    profile = tmp_path / "batches.toml"
    profile.write_text('name = "batches"\nextends = "national"\n[uploads]\nsale_infno = "3505A"\nbatch_size = 2\n',
                       "utf-8")
    counter = counter_factory(nhsa={"profile": str(profile)})
    codes = fresh_codes(3)
    sale = counter.sell(3, codes=codes, **BATCH)
    counter.svc.outbox.drain()
    [upload] = counter.uploads_of(sale)
    assert upload["infno"] == "3505A" and upload["items"] == 1 and sorted(upload["codes"]) == sorted(codes)
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"


def test_stock_batches_are_kept_and_retired_through_the_api(counter):
    listed = counter.http.get("/v1/stock").json()["stock"]
    assert [(e["lot"], e["prdr_name"]) for e in listed] == [("B2409117", "示例制药有限公司")]
    r = counter.http.post("/v1/stock", {"med_list_codg": OSIMERTINIB["med_list_codg"], "lot": "B1",
                                        "manu_date": "2025-02-01", "expy_end": "2024-02-01"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT"
    retire = f"{counter.http.base}/v1/stock/{listed[0]['id']}"
    assert counter.http.session.delete(retire, timeout=30).status_code == 200
    assert counter.http.get("/v1/stock").json()["stock"] == []
    assert counter.http.session.delete(retire, timeout=30).status_code == 404


def test_a_refund_while_the_sale_report_is_on_its_way_leaves_nothing_parked_and_nothing_to_return(counter):
    import threading
    sale = counter.sell(1)
    counter.sandbox_http.post("/sandbox/faults", {"infno": "3505", "mode": "slow", "times": 1, "delay_ms": 1500})
    drain = threading.Thread(target=counter.svc.outbox.drain)
    drain.start()                                                # the 3505 leaves and waits at the insurer …
    while not any(r.msgid for r in counter.svc.ledger.outbox.for_sale(sale["id"]) if r.infno == "3505"):
        pass
    assert counter.http.post(f"/v1/sales/{sale['id']}/refund").status_code == 200   # … while the sale is refunded
    drain.join(timeout=30)
    counter.svc.outbox.drain()
    rows = {r.infno: r.state for r in counter.svc.ledger.outbox.for_sale(sale["id"])}
    assert rows["3505"] == "superseded" and rows.get("3506", "superseded") == "superseded"
    assert counter.uploads_of(sale) == [] and counter.health()["status"] == "ok"


def test_the_running_service_sends_a_parked_upload_again_when_asked(counter):
    counter.sandbox_http.post("/sandbox/faults", {"infno": "3505", "mode": "error", "times": 1,
                                                  "err_msg": "药品目录编码未对照（示例）"})
    sale = counter.sell(1)
    counter.svc.outbox.drain()
    listed = counter.http.get("/v1/outbox").json()
    [parked] = [r for r in listed["rows"] if r["sale_id"] == sale["id"] and r["state"] == "parked"]
    assert parked["fix"]["code"] == "UPLOAD_REFUSED" and listed["depth"]["parked"] == 1
    r = counter.http.post("/v1/outbox/retry", {"id": parked["id"]})
    assert r.status_code == 200 and r.json()["made_due"] == 1
    counter.svc.outbox.drain()                   # the service's loop; here the test drains
    assert counter.sale(sale["id"])["uploads"]["state"] == "done"
