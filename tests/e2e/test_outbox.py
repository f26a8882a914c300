"""Uploads after a refund (docs/architecture.md outbox): a dispensing result (7206) that can no longer be accepted is
superseded together with the reopening it made necessary, never retried for ever."""
from tests.e2e.conftest import identify, new_sale

IN_FLIGHT = "P36010200001202611230000009999"


def test_a_dispensing_result_refused_after_the_refund_is_superseded_with_its_reopening(rx):
    svc, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    http.post(f"/v1/sales/{sale['id']}/settle")
    # the dispensing result was on its way (msgid given, journaled) when the refund was made
    dispense = svc.ledger.query_one("SELECT id FROM outbox WHERE infno = '7206'")[0]
    with svc.ledger.transaction() as c:
        c.execute("UPDATE outbox SET msgid = ? WHERE id = ?", (IN_FLIGHT, dispense))
        svc.ledger.journal.request(IN_FLIGHT, "7206", {}, sale["id"], conn=c)
    http.post(f"/v1/sales/{sale['id']}/refund")
    svc.outbox.drain()
    rows = svc.outbox.rows()
    assert svc.outbox.depth() == {"pending": 0, "parked": 0, "oldest_age_s": None}
    assert [r["state"] for r in rows if r["infno"] == "7206"] == ["superseded", "superseded"]
    assert {r["infno"]: r["state"] for r in rows if r["infno"] in ("3505", "3506")} == {"3505": "done",
                                                                                      "3506": "done"}


def test_a_refund_before_any_upload_left_sends_the_sale_and_the_return_only(rx, sandbox_http):
    svc, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    http.post(f"/v1/sales/{sale['id']}/settle")
    http.post(f"/v1/sales/{sale['id']}/refund")
    svc.outbox.drain()
    assert svc.outbox.depth()["pending"] == 0
    sent = [u["infno"] for u in sandbox_http.get("/sandbox/ledger").json()["uploads"]]
    assert sent.count("3505") == 1 and sent.count("3506") == 1
