import json
def test_dbg(counter):
    sale = counter.sell(2)
    counter.svc.outbox.drain()
    r = counter.http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"})
    print(counter.svc.outbox.drain())
    for r in counter.svc.outbox.rows():
        print(r)
    print(json.dumps(counter.sale(sale["id"])["journal"], ensure_ascii=False))
    print(counter.insurer()["uploads"])
    assert 0
