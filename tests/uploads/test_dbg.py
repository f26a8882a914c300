from tests.uploads.test_reconciliation import *  # noqa
def test_dbg(store):
    a, b, c = store
    print("TOKEN", repr(a.svc.settings.reconcile.peer_token), b.svc.ledger.tokens.listing())
    import requests
    r = requests.get(b.http.base + "/v1/reconciliation/rows?date=" + TODAY, headers={"Authorization": "Bearer " + a.svc.settings.reconcile.peer_token})
    print("RESULT", r.status_code, r.text[:300])
    assert 0
