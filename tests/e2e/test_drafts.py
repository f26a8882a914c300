"""Open (unsettled) sales over the POS API (issue 19; plugin/drafts.py): found again to resume, switched off the
personal account where the region allows, and cancelled when nobody came back — their packs free again."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from plugin import drafts
from tests.e2e.conftest import OSIMERTINIB, RX_ZHANG_OSI, ZHANG, identify, new_sale

PACK = "86907010000000000017"


def test_open_sales_of_a_patient_and_a_prescription_are_listed_newest_first(rx):
    _, http = rx
    ref = identify(http)["patient_ref"]
    older = new_sale(http, ref, codes=[PACK])["id"]
    newer = new_sale(http, ref, codes=[])["id"]
    settled = new_sale(http, ref, codes=["86907010000000000025"])["id"]
    assert http.post(f"/v1/sales/{settled}/settle").status_code == 200
    by_rx = http.get("/v1/sales/open", params={"patient_ref": ref, "hi_rxno": RX_ZHANG_OSI}).json()["sales"]
    assert [s["id"] for s in by_rx] == [newer, older]
    again = identify(http, ZHANG, how="ecard")["patient_ref"]       # the same person identified another way
    assert [s["id"] for s in http.get("/v1/sales/open", params={"patient_ref": again}).json()["sales"]] == \
        [newer, older]
    assert http.get("/v1/sales/open", params={"hi_rxno": "HX0"}).json() == {"sales": []}


@pytest.mark.parametrize("params, status, code", [({}, 400, "INVALID_INPUT"),
                                                  ({"patient_ref": "P" + "0" * 24}, 404, "PATIENT_NOT_FOUND")])
def test_open_sales_need_a_known_patient_or_a_prescription(rx, params, status, code):
    _, http = rx
    r = http.get("/v1/sales/open", params=params)
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_the_account_can_be_left_out_of_an_open_sale_and_a_stale_presettlement_is_dropped(rx):
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"], codes=[PACK])
    with_account = http.post(f"/v1/sales/{sale['id']}/presettle").json()["split"]
    assert with_account["acct_pay"] != "0.00"
    off = http.post(f"/v1/sales/{sale['id']}/account", {"acct_used": False}).json()
    assert off["acct_used"] is False and off["presettle"] is None and off["state"] == "presettled"
    split = http.post(f"/v1/sales/{sale['id']}/settle").json()["split"]
    assert split["acct_pay"] == "0.00"
    assert Decimal(split["psn_cash_pay"]) == Decimal(with_account["psn_cash_pay"]) + Decimal(with_account["acct_pay"])
    late = http.post(f"/v1/sales/{sale['id']}/account", {"acct_used": True})
    assert late.status_code == 409 and late.json()["error"]["code"] == "INVALID_STATE"
    assert "已结算" in late.json()["error"]["message_zh"]


def test_a_region_that_pays_from_the_account_first_refuses_to_leave_it_out(service_factory):
    _, http = service_factory(store={"region": "jilin"})
    ref = identify(http)["patient_ref"]
    r = http.post("/v1/sales", {"patient_ref": ref, "hi_rxno": RX_ZHANG_OSI, "acct_used": False, "lines": [
        {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00"}]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "ACCOUNT_REQUIRED"
    assert "个人账户" in r.json()["error"]["message_zh"]
    sale = new_sale(http, ref, codes=[])
    r = http.post(f"/v1/sales/{sale['id']}/account", {"acct_used": False})
    assert r.json()["error"]["code"] == "ACCOUNT_REQUIRED"
    assert re.search(r'<button [^>]*id="btn-account"[^>]* hidden>', http.get("/").text)   # no F6 on the page


def test_drafts_untouched_past_the_setting_are_cancelled_and_their_packs_sell_again(rx):
    svc, http = rx
    ref = identify(http)["patient_ref"]
    old = new_sale(http, ref, codes=[PACK])["id"]
    minutes = svc.settings.store.draft_expiry_minutes
    assert minutes == 240
    assert drafts.expire(svc.sales, datetime.now() + timedelta(minutes=minutes - 1), minutes) == []
    assert drafts.expire(svc.sales, datetime.now() + timedelta(minutes=minutes + 1), minutes) == [old]
    assert http.get(f"/v1/sales/{old}").json()["state"] == "cancelled"
    assert new_sale(http, ref, codes=[PACK])["lines"][0]["trace_codes"] == [PACK]
    kinds = [r["kind"] for r in svc.ledger.query("SELECT kind FROM audit WHERE sale_id = ?", (old,))]
    assert kinds == ["draft_expired"]
    assert drafts.expire(svc.sales, datetime.now() + timedelta(days=30), 0) == []     # 0 keeps drafts for ever


def test_the_expiry_is_a_round_of_the_background_loop(service_factory):
    svc, http = service_factory(store={"draft_expiry_minutes": 5})
    ref = identify(http)["patient_ref"]
    stale = new_sale(http, ref, codes=[PACK])["id"]
    fresh = new_sale(http, ref, codes=[])["id"]
    with svc.ledger.transaction() as c:        # the test moves the clock of one sale back, not the service's clock
        c.execute("UPDATE sales SET updated_at = ? WHERE id = ?",
                  ((datetime.now() - timedelta(minutes=6)).isoformat(sep=" ", timespec="seconds"), stale))
    svc.start_background()
    try:
        svc.recovery.run_once()
    finally:
        svc.recovery.stop()
    assert http.get(f"/v1/sales/{stale}").json()["state"] == "cancelled"
    assert http.get(f"/v1/sales/{fresh}").json()["state"] == "draft"


def test_invalid_state_names_the_state_in_chinese(rx):
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"], codes=[PACK])
    slip = http.get(f"/v1/sales/{sale['id']}/slip.txt").json()["error"]
    assert slip["code"] == "INVALID_STATE" and slip["message_zh"] == "销售单当前状态为“待结算”，不能打印结算凭条。"
    http.session.delete(f"{http.base}/v1/sales/{sale['id']}")
    again = http.post(f"/v1/sales/{sale['id']}/presettle").json()["error"]
    assert again["message_zh"] == "销售单当前状态为“已取消”，不能预结算。"
    assert again["details"]["state"] == "cancelled" and "cancelled" in again["message"]
