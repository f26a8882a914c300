"""Hostile answers from the insurer's gateway: truncated, garbled, late, huge, or well-formed JSON with the wrong
things inside. The POS must see 503 UPSTREAM_UNAVAILABLE (nothing moved) or 409 SETTLEMENT_IN_DOUBT (a 2102/2103
whose outcome is unknown) — never a 500 — and the ledger holds no half-written sale (docs/architecture.md "journal
before send"; adapters/sandbox/faults.py for the injected modes).
"""
from __future__ import annotations

import copy
import random
import json
import threading
from typing import Any
from collections.abc import Callable, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.conftest import Http, ServerThread, install_demo_list, make_service
from tests.e2e.conftest import OSIMERTINIB, RX_ZHANG_OSI, ZHANG, identify, list_prescriptions, new_sale, pack, prefix_of
from tests.security.conftest import (UNLIMITED, assert_error_shape, assert_sane, fresh_rx, ledger_counts,
                                     sale_on_fresh_rx)

MONEY_TABLES = ("sales", "sale_lines", "trace_codes", "journal", "outbox", "patients")


def fault(sandbox_http, infno: str, mode: str, **kw: Any) -> None:
    r = sandbox_http.post("/sandbox/faults", {"infno": infno, "mode": mode, "times": 1, **kw})
    assert r.status_code in (200, 201), r.text


def settlements(sandbox_http) -> list[dict]:
    return sandbox_http.get("/sandbox/ledger").json()["settlements"]


# -- the sandbox's own fault modes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("infno", ["1101", "5301"])
def test_corrupt_identify_answer_is_unavailable_and_stores_no_patient(rx, sandbox_http, infno):
    svc, http = rx
    before = ledger_counts(svc)
    fault(sandbox_http, infno, "corrupt")
    r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]})
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE"
    assert ZHANG["certno"] not in r.text
    assert ledger_counts(svc)["patients"] == before["patients"]


def test_corrupt_prescription_download_7203_is_unavailable_and_creates_no_sale(rx, sandbox_http, zhang):
    """7203 runs when the counter lists the patient's prescriptions: a corrupt download makes the listing
    unavailable, keeps nothing of that prescription, and a sale naming it is refused as not downloaded. The next
    listing (7202 hands out fresh single-use numbers) downloads it, and the sale goes ahead."""
    svc, http = rx
    before = ledger_counts(svc)
    fault(sandbox_http, "7203", "corrupt")
    r = http.get("/v1/prescriptions", params={"patient_ref": zhang})
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE"
    after = ledger_counts(svc)
    assert {t: after[t] for t in MONEY_TABLES} == {t: before[t] for t in MONEY_TABLES}
    assert after["prescriptions"] == before["prescriptions"]    # the corrupt one was the first download
    line = {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00", "trace_codes": [pack(prefix_of(OSIMERTINIB))]}
    r = http.post("/v1/sales", {"patient_ref": zhang, "hi_rxno": RX_ZHANG_OSI, "lines": [line]})
    assert_sane(r)
    assert r.status_code == 409 and assert_error_shape(r)["code"] == "RX_NOT_DOWNLOADED"
    assert ledger_counts(svc)["sales"] == before["sales"]
    assert new_sale(http, zhang)["hi_rxno"] == RX_ZHANG_OSI


def test_corrupt_prescription_list_7202_is_unavailable(rx, sandbox_http, zhang):
    _, http = rx
    fault(sandbox_http, "7202", "corrupt")
    r = http.get("/v1/prescriptions", params={"patient_ref": zhang})
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE"


def test_corrupt_presettle_2101_is_unavailable_and_the_sale_stays_a_draft(rx, sandbox_http, zhang):
    svc, http = rx
    sale = new_sale(http, zhang)
    before = ledger_counts(svc)
    fault(sandbox_http, "2101", "corrupt")
    r = http.post(f"/v1/sales/{sale['id']}/presettle")
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE"
    assert http.get(f"/v1/sales/{sale['id']}").json()["state"] == "draft"
    assert ledger_counts(svc)["journal"] == before["journal"]
    assert http.post(f"/v1/sales/{sale['id']}/presettle").status_code == 200


def test_corrupt_settlement_2102_is_in_doubt_journaled_once_and_reversed_never_resent(rx, sandbox_http, zhang):
    svc, http = rx
    sale = new_sale(http, zhang)
    fault(sandbox_http, "2102", "corrupt")
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert_sane(r)
    assert r.status_code == 409 and assert_error_shape(r)["code"] == "SETTLEMENT_IN_DOUBT"
    assert http.get(f"/v1/sales/{sale['id']}").json()["state"] == "in_doubt"
    journal = svc.ledger.query("SELECT msgid, state FROM journal WHERE sale_id = ? AND infno = '2102'", (sale["id"],))
    assert [j["state"] for j in journal] == ["unknown"]
    # the corrupt answer committed at the insurer: money moved, and rxlane must not settle it a second time
    again = http.post(f"/v1/sales/{sale['id']}/settle")
    assert again.status_code == 409 and assert_error_shape(again)["code"] in ("SETTLEMENT_IN_DOUBT", "INVALID_STATE")
    assert http.post(f"/v1/sales/{sale['id']}/resolve").json()["state"] == "reversed"
    mine = [s for s in settlements(sandbox_http) if s["msgid"] == journal[0]["msgid"]]
    assert [s["state"] for s in mine] == ["reversed"]
    assert svc.ledger.query_one("SELECT count(*) FROM journal WHERE sale_id = ? AND infno = '2102'",
                                (sale["id"],))[0] == 1


def test_corrupt_refund_2103_is_in_doubt_and_resolves_back_to_settled(rx, sandbox_http, zhang):
    _, http = rx
    sale = new_sale(http, zhang)
    assert http.post(f"/v1/sales/{sale['id']}/settle").status_code == 200
    fault(sandbox_http, "2103", "corrupt")
    r = http.post(f"/v1/sales/{sale['id']}/refund")
    assert_sane(r)
    assert r.status_code == 409 and assert_error_shape(r)["code"] == "SETTLEMENT_IN_DOUBT"
    assert http.post(f"/v1/sales/{sale['id']}/resolve").json()["state"] == "settled"


@pytest.fixture
def quick_rx(service_factory):
    """rxlane with a 1 s gateway timeout, so a `slow` fault outlasts the client without slowing the suite."""
    return service_factory(nhsa={"timeout_s": 1})


def test_slow_presettle_beyond_the_client_timeout_is_unavailable(quick_rx, sandbox_http):
    svc, http = quick_rx
    ref = identify(http)["patient_ref"]
    sale = new_sale(http, ref)
    fault(sandbox_http, "2101", "slow", delay_ms=1800)
    r = http.post(f"/v1/sales/{sale['id']}/presettle")
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE"
    assert http.get(f"/v1/sales/{sale['id']}").json()["state"] == "draft"


def test_slow_settlement_beyond_the_client_timeout_is_in_doubt_then_reversed(quick_rx, sandbox_http):
    svc, http = quick_rx
    ref = identify(http)["patient_ref"]
    sale = new_sale(http, ref)
    fault(sandbox_http, "2102", "slow", delay_ms=1800)
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert_sane(r)
    assert r.status_code == 409 and assert_error_shape(r)["code"] == "SETTLEMENT_IN_DOUBT"
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:      # the sandbox commits the late 2102 after its delay
        if any(s["state"] == "settled" for s in settlements(sandbox_http)):
            break
        time.sleep(0.1)
    resolved = http.post(f"/v1/sales/{sale['id']}/resolve").json()
    assert resolved["state"] == "reversed"
    assert all(s["state"] != "settled" for s in settlements(sandbox_http))


def test_slow_identify_beyond_the_client_timeout_is_unavailable(quick_rx, sandbox_http):
    svc, http = quick_rx
    identify(http)                                  # sign-in done
    before = ledger_counts(svc)["patients"]
    fault(sandbox_http, "1101", "slow", delay_ms=1800)
    r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]})
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE"
    assert ledger_counts(svc)["patients"] == before


# -- a mangling gateway: the real sandbox's answers, rewritten on the way back -------------------------------------
class ManglingGateway:
    """A real HTTP hop between rxlane and the sandbox that rewrites the answer to one chosen infno."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.rules: dict[str, Callable[[bytes], tuple[int, bytes, str]]] = {}
        self.session = requests.Session()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _app(self, environ, start_response):
        req = Request(environ)
        data = req.get_data()
        try:
            infno = str(json.loads(data).get("infno", ""))
        except ValueError:
            infno = ""
        up = self.session.post(self.upstream + req.full_path.rstrip("?"), data=data,
                               headers={k: v for k, v in req.headers if k.lower() not in ("host", "content-length")},
                               timeout=30)
        rule = self.rules.pop(infno, None)
        if rule is None:
            resp = Response(up.content, status=up.status_code, content_type=up.headers.get("Content-Type"))
        else:
            status, body, ctype = rule(up.content)
            resp = Response(body, status=status, content_type=ctype)
        return resp(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def mangled(live, tmp_path_factory) -> Iterator[tuple[Any, Http, ManglingGateway, Http]]:
    """rxlane talking to the live sandbox through a ManglingGateway; the last item is the sandbox's admin API."""
    from plugin.app import create_app
    gw = ManglingGateway(live.sandbox.url)
    svc = make_service(tmp_path_factory.mktemp("mangled") / "data", gw.url, server=UNLIMITED)
    install_demo_list(svc)
    server = ServerThread(create_app(svc))
    try:
        yield svc, Http(server.url), gw, live.sandbox_http
    finally:
        server.stop()
        svc.close()
        gw.stop()


HOSTILE_LEAVES = [None, "", "NaN", "sNaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 60, -1, 1e308, True,
                  [], {}, [[[[]]]], "x" * 50_000, "\u0000", "\ud800", "3601**********2010", 0.1, "1,000.00",
                  {"$ref": "#"}]


def _leaf_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _leaf_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out += _leaf_paths(v, prefix + (i,))
    return out


@st.composite
def mangling(draw) -> Callable[[bytes], tuple[int, bytes, str]]:
    """A rewrite of one answer: a leaf replaced or deleted, the body cut, padded huge, or not JSON at all."""
    kind = draw(st.sampled_from(["leaf", "leaf", "leaf", "delete", "truncate", "huge", "bytes", "status", "type"]))
    seed = draw(st.integers(0, 2**32))
    choice = random.Random(seed)
    leaf = draw(st.sampled_from(HOSTILE_LEAVES))
    cut = draw(st.floats(0, 1))
    status = draw(st.sampled_from([200, 200, 204, 302, 400, 404, 500, 502, 503]))

    def rule(content: bytes) -> tuple[int, bytes, str]:
        choice.seed(seed)
        ctype = "application/json;charset=utf-8"
        if kind == "truncate":
            return 200, content[: int(len(content) * cut)], ctype
        if kind == "bytes":
            return 200, bytes(choice.getrandbits(8) for _ in range(choice.randint(0, 300))), ctype
        if kind == "status":
            return status, b"<html>gateway says no</html>" if status >= 300 else content, "text/html"
        raw = json.loads(content)
        if kind == "huge":
            raw["padding"] = "8" * (4 * 1024 * 1024)
            return 200, json.dumps(raw).encode(), ctype
        if kind == "type":
            return 200, json.dumps(choice.choice([[], "ok", 0, None, [raw], {"infcode": 0, "output": []}])).encode(), \
                ctype
        mutated = copy.deepcopy(raw)
        path = choice.choice([p for p in _leaf_paths(mutated) if p])
        parent = mutated
        for k in path[:-1]:
            parent = parent[k]
        if kind == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = leaf
        return 200, json.dumps(mutated, ensure_ascii=False).encode("utf-8", "surrogatepass"), ctype
    rule.__name__ = f"{kind}:{leaf!r:.20}"
    return rule


ACTIONS = ["identify_1101", "identify_5301", "prescriptions_7202", "download_7203", "presettle_2101", "settle_2102",
           "refund_2103"]


@settings(max_examples=70, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(action=st.sampled_from(ACTIONS), rule=mangling())
def test_mangled_gateway_answers_never_make_a_500(mangled, hostile_tally, action, rule):
    svc, http, gw, sandbox_http = mangled
    step, infno = action.split("_")
    ref = identify(http, ZHANG)["patient_ref"]
    sale = None
    if step == "download":
        fresh_rx(sandbox_http)      # one prescription not yet downloaded, so the listing sends a 7203
    if step in ("presettle", "settle", "refund"):
        sale = sale_on_fresh_rx(http, sandbox_http, ref)["id"]
        if step == "refund":
            assert http.post(f"/v1/sales/{sale}/settle").status_code == 200
    gw.rules[infno] = rule
    before = ledger_counts(svc)
    if step == "identify":
        r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]})
    elif step in ("prescriptions", "download"):
        r = http.get("/v1/prescriptions", params={"patient_ref": ref})
    else:
        r = http.post(f"/v1/sales/{sale}/{step}")
    gw.rules.pop(infno, None)
    hostile_tally.add("gateway")
    assert_sane(r, where=f"{action} with {rule.__name__}")
    assert ZHANG["certno"] not in r.text and ZHANG["ecard_qr"] not in r.text
    if r.status_code >= 400:
        code = assert_error_shape(r)["code"]
        allowed = {"identify": {"UPSTREAM_UNAVAILABLE", "PATIENT_NOT_FOUND", "UPSTREAM_REFUSED"},
                   "prescriptions": {"UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED"},
                   "download": {"UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED"},
                   "presettle": {"UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED"},
                   "settle": {"UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED", "SETTLEMENT_IN_DOUBT"},
                   "refund": {"UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED", "SETTLEMENT_IN_DOUBT"}}[step]
        assert code in allowed, (action, rule.__name__, r.text[:300])
        if step in ("identify", "download", "prescriptions", "presettle"):
            after = ledger_counts(svc)
            assert {t: after[t] for t in MONEY_TABLES} == {t: before[t] for t in MONEY_TABLES}, (action, r.text)
    if sale is not None:
        state = http.get(f"/v1/sales/{sale}").json()["state"]
        if state in ("in_doubt", "refund_in_doubt"):
            assert http.post(f"/v1/sales/{sale}/resolve").status_code == 200


# -- pinned regressions: one named rewrite per defect the fuzzer found ----------------------------------------------
def set_path(*path: Any, value: Any) -> Callable[[bytes], tuple[int, bytes, str]]:
    """A rewrite that sets one field of the real answer (path from the envelope root)."""
    def rule(content: bytes) -> tuple[int, bytes, str]:
        raw = json.loads(content)
        node = raw
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        return 200, json.dumps(raw, ensure_ascii=False).encode(), "application/json;charset=utf-8"
    rule.__name__ = f"{'.'.join(map(str, path))}={value!r:.20}"
    return rule


@pytest.mark.parametrize("value", ["Infinity", "1e400", "NaN", "12,00", [1]])
def test_a_2102_answer_with_an_unreadable_amount_is_in_doubt_not_a_500(mangled, value):
    """infcode 0 means the insurer settled; an amount rxlane cannot read is an unknown outcome (reverse it), never
    a 500 that leaves the sale stuck in 'settling'."""
    svc, http, gw, sandbox_http = mangled
    sale = sale_on_fresh_rx(http, sandbox_http, identify(http, ZHANG)["patient_ref"])["id"]
    gw.rules["2102"] = set_path("output", "setlinfo", "fund_pay_sumamt", value=value)
    r = http.post(f"/v1/sales/{sale}/settle")
    assert_sane(r)
    assert r.status_code == 409 and assert_error_shape(r)["code"] == "SETTLEMENT_IN_DOUBT", r.text
    assert http.get(f"/v1/sales/{sale}").json()["state"] == "in_doubt"
    assert http.post(f"/v1/sales/{sale}/resolve").json()["state"] == "reversed"


@pytest.mark.parametrize("value", ["Infinity", "1e400", "abc"])
def test_a_2103_answer_with_an_unreadable_amount_is_in_doubt_not_a_500(mangled, value):
    svc, http, gw, sandbox_http = mangled
    sale = sale_on_fresh_rx(http, sandbox_http, identify(http, ZHANG)["patient_ref"])["id"]
    assert http.post(f"/v1/sales/{sale}/settle").status_code == 200
    gw.rules["2103"] = set_path("output", "setlinfo", "fund_pay_sumamt", value=value)
    r = http.post(f"/v1/sales/{sale}/refund")
    assert_sane(r)
    assert r.status_code in (200, 409), r.text
    if r.status_code == 409:
        assert assert_error_shape(r)["code"] == "SETTLEMENT_IN_DOUBT"
        assert http.get(f"/v1/sales/{sale}").json()["state"] == "refund_in_doubt"


@pytest.mark.parametrize("value", ["Infinity", "1e400", "x"])
def test_a_2101_answer_with_an_unreadable_amount_is_unavailable_not_a_500(mangled, value):
    svc, http, gw, sandbox_http = mangled
    sale = sale_on_fresh_rx(http, sandbox_http, identify(http, ZHANG)["patient_ref"])["id"]
    gw.rules["2101"] = set_path("output", "setlinfo", "hifp_pay", value=value)
    r = http.post(f"/v1/sales/{sale}/presettle")
    assert_sane(r)
    assert r.status_code == 503 and assert_error_shape(r)["code"] == "UPSTREAM_UNAVAILABLE", r.text
    assert http.get(f"/v1/sales/{sale}").json()["state"] == "draft"


@pytest.mark.parametrize("path, value", [
    (("output", "insuinfo"), 1.5), (("output", "insuinfo"), True), (("output", "baseinfo"), "x"),
    (("output", "insuinfo", 0, "balc"), "Infinity"), (("output", "insuinfo", 0, "balc"), {"a": 1}),
    (("output", "insuinfo", 0), "310"),
])
def test_a_1101_answer_of_the_wrong_shape_is_unavailable_or_not_found_not_a_500(mangled, path, value):
    svc, http, gw, _ = mangled
    identify(http, ZHANG)
    before = ledger_counts(svc)["patients"]
    gw.rules["1101"] = set_path(*path, value=value)
    r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]})
    assert_sane(r)
    assert r.status_code in (404, 503), r.text
    assert assert_error_shape(r)["code"] in ("UPSTREAM_UNAVAILABLE", "PATIENT_NOT_FOUND")
    assert ledger_counts(svc)["patients"] == before


@pytest.mark.parametrize("key, value", [("psn_no", None), ("hi_rxno", ""), ("prsc_time", "x"),
                                        ("valid_end_time", "31/12"), ("rxdrugdetail", 3.0), ("rxdrugdetail", "x"),
                                        ("rxdrugdetail", [])])
def test_a_7203_answer_with_bad_fields_is_the_insurers_fault_not_invalid_input(mangled, key, value):
    """A broken prescription download is the gateway's problem (503), not the POS's (400 naming an rx field); what
    could not be read is not kept, so no sale can be made on it."""
    svc, http, gw, sandbox_http = mangled
    ref = identify(http, ZHANG)["patient_ref"]
    list_prescriptions(http, ref)                       # everything else already downloaded
    hi_rxno = fresh_rx(sandbox_http)

    def rule(content: bytes) -> tuple[int, bytes, str]:
        raw = json.loads(content)
        out = raw["output"]
        target = next((v for v in out.values() if isinstance(v, dict) and key in v), out)
        target[key] = value
        return 200, json.dumps(raw, ensure_ascii=False).encode(), "application/json"
    gw.rules["7203"] = rule
    before = ledger_counts(svc)
    r = http.get("/v1/prescriptions", params={"patient_ref": ref})
    gw.rules.pop("7203", None)
    assert_sane(r)
    assert r.status_code in (200, 502, 503), r.text
    if r.status_code >= 400:
        assert assert_error_shape(r)["code"] in ("UPSTREAM_UNAVAILABLE", "UPSTREAM_REFUSED")
        assert ledger_counts(svc)["prescriptions"] == before["prescriptions"]
        sale = http.post("/v1/sales", {"patient_ref": ref, "hi_rxno": hi_rxno, "lines": [
            {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00",
             "trace_codes": [pack(prefix_of(OSIMERTINIB))]}]})
        assert sale.status_code == 409 and assert_error_shape(sale)["code"] == "RX_NOT_DOWNLOADED", sale.text
        assert ledger_counts(svc)["sales"] == before["sales"]


def test_a_7202_answer_with_a_non_list_is_unavailable_not_a_500(mangled):
    svc, http, gw, _ = mangled
    ref = identify(http, ZHANG)["patient_ref"]

    def rule(content: bytes) -> tuple[int, bytes, str]:
        raw = json.loads(content)
        for k in list(raw["output"]):
            raw["output"][k] = True
        return 200, json.dumps(raw).encode(), "application/json"
    gw.rules["7202"] = rule
    r = http.get("/v1/prescriptions", params={"patient_ref": ref})
    assert_sane(r)
    assert r.status_code in (200, 503), r.text
