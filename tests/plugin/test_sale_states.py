"""The sale state machine moves only along its arrows (plugin/sales.py docstring), one request at a time."""
import threading

import pytest

from plugin.errors import RxlaneError
from tests.e2e.conftest import identify, new_sale


def state(svc, sale_id):
    return svc.ledger.query_one("SELECT state FROM sales WHERE id = ?", (sale_id,))["state"]


@pytest.mark.parametrize("start, action", [("settled", "presettle"), ("settled", "settle"),
                                           ("draft", "refund"), ("refunded", "refund"), ("refunded", "settle"),
                                           ("cancelled", "settle")])
def test_actions_outside_the_arrows_are_refused_and_change_nothing(rx, start, action):
    svc, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    if start in ("settled", "refunded"):
        svc.sales.settle(sale["id"])
    if start == "refunded":
        svc.sales.refund(sale["id"])
    if start == "cancelled":
        svc.sales.cancel(sale["id"])
    with pytest.raises(RxlaneError) as err:
        getattr(svc.sales, action)(sale["id"])
    assert err.value.code == "INVALID_STATE" and state(svc, sale["id"]) == start


def test_in_doubt_refuses_every_money_action_with_settlement_in_doubt(rx, sandbox_http):
    svc, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    with pytest.raises(RxlaneError):
        svc.sales.settle(sale["id"])
    for action in ("settle", "presettle", "refund", "cancel"):
        with pytest.raises(RxlaneError) as err:
            getattr(svc.sales, action)(sale["id"])
        assert err.value.code in ("SETTLEMENT_IN_DOUBT", "INVALID_STATE")
    assert svc.sales.resolve(sale["id"]) == "reversed"
    assert svc.sales.settle(sale["id"])["split"]["medfee_sumamt"] == "4837.00"


def test_two_settles_racing_for_one_sale_send_one_2102(rx, sandbox_http):
    svc, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    results = []

    def settle():
        try:
            results.append(svc.sales.settle(sale["id"])["split"]["medfee_sumamt"])
        except RxlaneError as exc:
            results.append(exc.code)
    threads = [threading.Thread(target=settle) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("4837.00") == 1 and len(results) == 4
    assert sum(1 for j in http.get(f"/v1/sales/{sale['id']}").json()["journal"] if j["infno"] == "2102") == 1


def test_partial_refund_is_refused_with_its_reason_and_the_whole_sale_can_be_refunded(rx):
    svc, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    http.post(f"/v1/sales/{sale['id']}/settle")
    r = http.post(f"/v1/sales/{sale['id']}/refund", {"lines": []})
    assert r.status_code == 422 and r.json()["error"]["code"] == "PARTIAL_REFUND_UNSUPPORTED"
    assert "整单" in r.json()["error"]["message_zh"]
    assert http.post(f"/v1/sales/{sale['id']}/refund", {"lines": [1]}).json()["state"] == "refunded"
