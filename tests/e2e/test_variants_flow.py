"""A whole counter day's sale through rxlane against the strict sandbox in every answer variant real gateways
send (docs/sandbox.md "Answer variants"): GBK or GB18030 bodies, `output` as a JSON string, `infcode` as a
string, empty strings for empty fields, money as strings, unknown extra fields — and all of them at once.

The same sale (e-voucher identification, prescriptions listed and downloaded, presettle, settle, refund) must end
the same way whatever the insurer's answers look like: settled once with the insurer's split to the fen, refunded
with the insurer's cancellation, and the books agreeing.
"""
from __future__ import annotations

import pytest

from tests.contract.test_variants import VARIANTS
from tests.e2e.conftest import ZHANG, assert_invariant, identify, new_sale


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_counter_flow_ends_the_same_in_every_answer_variant(service_factory, sandbox_http, name):
    assert sandbox_http.post("/sandbox/variants", VARIANTS[name]).status_code == 200
    svc, http = service_factory()
    who = identify(http, ZHANG, how="ecard")             # decode the QR, then 1101 with the token (type 01)
    sale = new_sale(http, who["patient_ref"])            # lists and downloads the prescriptions first (7202/7203)
    pre = http.post(f"/v1/sales/{sale['id']}/presettle")
    assert pre.status_code == 200, pre.text
    done = http.post(f"/v1/sales/{sale['id']}/settle")
    assert done.status_code == 200, done.text
    settled = done.json()
    assert settled["state"] == "settled" and settled["setl_id"]
    assert_invariant(settled["split"])
    assert settled["split"]["medfee_sumamt"] == pre.json()["split"]["medfee_sumamt"] == sale["medfee_sumamt"]
    [theirs] = [s for s in sandbox_http.get("/sandbox/ledger").json()["settlements"]
                if s["setl_id"] == settled["setl_id"]]
    assert theirs["state"] == "settled"
    assert theirs["fund_pay_sumamt"] == settled["split"]["fund_pay_sumamt"]
    assert theirs["acct_pay"] == settled["split"]["acct_pay"]
    refund = http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"})
    assert refund.status_code == 200, refund.text
    assert refund.json()["state"] == "refunded"
    [after] = [s for s in sandbox_http.get("/sandbox/ledger").json()["settlements"]
               if s["setl_id"] == settled["setl_id"]]
    assert after["state"] == "cancelled"
    assert svc.sales.in_doubt_ids() == []
