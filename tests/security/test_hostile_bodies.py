"""Property tests over request bodies the schema fuzzer cannot aim well: arbitrary scanned text through
`POST /v1/scans` (control characters, lone surrogates written as JSON escapes, megabyte strings), and sale / trace
code bodies built around a real patient and real drug codes, so they reach eligibility and the pack ledger.

Every answer is a documented one; a refused body writes nothing (docs/pos-integration.md, docs/architecture.md).
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import (DEMO, OSIMERTINIB, SECUKINUMAB, ZHANG, identify, list_prescriptions, new_sale, pack,
                                prefix_of)
from tests.security.conftest import assert_error_shape, assert_sane, ledger_counts

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SCAN_KINDS = {"ecard", "ss_card", "id_card", "trace_code", "gs1", "prescription", "unknown"}

# Text a scanner, a keyboard wedge or an attacker might send, weighted toward the classifier's edges.
scanner_text = st.one_of(
    st.text(max_size=600),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=80),
    st.from_regex(r"(\][A-Za-z][0-9A-Za-z])?[ \t\r\n]*8[0-9]{17,22}[ \t\r\n\x1d]*", fullmatch=True),
    st.from_regex(r"(\]d2)?01[0-9]{14}(17[0-9]{6})?(10[!-z]{1,20}\x1d?)?(21[!-z]{1,20})?", fullmatch=True),
    st.from_regex(r"\(01\)[0-9]{14}(\(17\)[0-9]{6})?(\(10\)[A-Z0-9]{1,8})?(\(21\)[A-Z0-9]{1,12})?", fullmatch=True),
    st.from_regex(r"[0-9]{17}[0-9Xx]|ECARD[0-9A-Z]{10,40}|RX[0-9A-Z]{5,35}|[A-Z][0-9]{8}", fullmatch=True),
    st.text(alphabet="8０１２３４５６７８９　\u3000\x1d\x00\x1b\x7f\u200b\u202e\ufeff", min_size=1, max_size=40),
)


def post_raw_json(http, path: str, text: str):
    return http.post(path, data=text.encode("utf-8", "surrogatepass"), headers={"Content-Type": "application/json"})


@SETTINGS
@given(raw=scanner_text)
def test_any_scanned_text_is_classified_or_refused_with_a_reason(live, hostile_tally, raw):
    r = live.http.post("/v1/scans", {"raw": raw})
    hostile_tally.add("scans")
    assert_sane(r)
    if r.status_code == 200:
        body = r.json()
        assert body["kind"] in SCAN_KINDS and isinstance(body["raw_length"], int)
    else:
        assert r.status_code == 400
        assert assert_error_shape(r)["code"] in ("INVALID_INPUT", "TRACE_CODE_INVALID")


@SETTINGS
@given(prefix=st.text(max_size=10), cp=st.integers(0xD800, 0xDFFF), suffix=st.text(max_size=10),
       escape_case=st.sampled_from(["x", "X"]))
def test_lone_surrogates_written_as_json_escapes_are_refused_not_crashed(live, hostile_tally, prefix, cp, suffix,
                                                                          escape_case):
    """`"\\ud800"` is legal JSON but not a Unicode string; nothing downstream (SQLite, logs, utf-8) may choke."""
    esc = f"\\u{cp:04{escape_case.lower()}}"
    text = '{"raw": ' + json.dumps(prefix)[:-1] + esc + json.dumps(suffix)[1:] + "}"
    r = post_raw_json(live.http, "/v1/scans", text)
    hostile_tally.add("scans")
    assert_sane(r)
    assert r.status_code in (200, 400)


@pytest.mark.parametrize("body", [
    '{"raw": "\\ud83d\\udc8a"}',                    # a valid surrogate pair (💊) is fine
    '{"raw": "\\udc8a\\ud83d"}',                    # reversed pair
    '{"raw": "\\u0000"}', '{"raw": "8\\u0000' + "1" * 19 + '"}',
    '{"raw": "\\u001b[31m8' + "1" * 19 + '"}',      # terminal escape
    '{"raw": "\\u202e' + "8" + "1" * 19 + '"}',     # right-to-left override
    '{"raw": null}', '{"raw": 8' + "1" * 19 + '}', '{"raw": ["8"]}', '{"raw": {"a": 1}}', '{"raw": true}',
    '{"raw": "x", "raw": "y"}', '{"RAW": "x"}', '{}', '[]', '"raw"', 'null', '1e999999', '{"raw": 1e999999}',
    '{"raw": "' + "8" * 5000 + '"}', '{"raw": "' + "\\u0041" * 4000 + '"}',
])
def test_odd_scan_bodies_are_answered(live, body):
    r = post_raw_json(live.http, "/v1/scans", body)
    assert_sane(r)
    assert r.status_code in (200, 400)


@pytest.mark.parametrize("size", [300_000, 1_048_576])
def test_megabyte_scan_is_413_payload_too_large(live, size):
    r = post_raw_json(live.http, "/v1/scans", '{"raw": "' + "8" * size + '"}')
    assert r.status_code == 413 and assert_error_shape(r)["code"] == "PAYLOAD_TOO_LARGE"


def test_megabyte_body_without_content_length_is_refused(live):
    """Chunked upload: no Content-Length for MAX_CONTENT_LENGTH to look at up front."""
    def chunks():
        yield b'{"raw": "'
        for _ in range(64):
            yield b"8" * 16384
        yield b'"}'
    r = live.http.session.post(live.base + "/v1/scans", data=chunks(), headers={"Content-Type": "application/json"},
                               timeout=30)
    assert r.status_code in (400, 413), r.text[:200]
    assert_sane(r)


def test_deeply_nested_body_is_refused_not_a_recursion_error(live):
    for depth in (9, 1000, 100_000):
        r = post_raw_json(live.http, "/v1/sales", '{"lines": ' + "[" * depth + "]" * depth + "}")
        assert r.status_code in (400, 413), r.text[:200]
        assert_sane(r)


# -- sale bodies around a real patient: reach eligibility and the pack ledger ------------------------------------
CODES = [e["hilist_code"] for e in DEMO["catalog"]]
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
decimal_text = st.one_of(st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{0,5})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
                         st.sampled_from(["NaN", "Infinity", "-0", "0.000", "1e-7", "1E+9999", "0x10", "1_000",
                                          " 1 ", "１", "٣", "4837.00", "0.5", "0.333", "9999", "10000"]))


def trace_codes_for(med: str):
    real = st.builds(lambda m: pack(prefix_of(m)), st.just(med)) if med in CODES else st.nothing()
    return st.lists(st.one_of(real, st.text(max_size=40), st.from_regex(r"8[0-9]{19}", fullmatch=True)),
                    max_size=4)


def mostly(valid, hostile, odds: int = 12):
    """Valid in all but one draw in `odds` (and when shrinking), so a body usually gets past validation and into
    eligibility and the pack ledger, with one hostile field at a time."""
    return st.sampled_from([False] * (odds - 1) + [True]).flatmap(lambda bad: hostile if bad else valid)


PRICES = {e["hilist_code"]: e["payment_standard"] for e in DEMO["catalog"]}
valid_qty = st.sampled_from(["1", "2", "0.5", "0.25", 1, 2, "1.000", "3"])


@st.composite
def sale_line(draw) -> dict[str, Any]:
    med = draw(mostly(st.sampled_from(CODES), st.one_of(st.text(max_size=70), json_scalar)))
    standard = str(PRICES.get(med, "100.00")) if isinstance(med, str) else "100.00"
    qty = draw(mostly(valid_qty, st.one_of(decimal_text, json_scalar)))
    line: dict[str, Any] = {
        "med_list_codg": med, "qty": qty,
        "price": draw(mostly(st.sampled_from([standard, "0.00", "0.01", "99999999.99", "1"]),
                             st.one_of(decimal_text, json_scalar)))}
    if draw(st.booleans()):
        n = 1 if not isinstance(qty, (str, int)) else max(1, min(4, int(float(str(qty).strip() or 1))
                                                                  if str(qty).replace(".", "", 1).isdigit() else 1))
        real = [pack(prefix_of(med)) for _ in range(n)] if med in CODES else []
        line["trace_codes"] = draw(mostly(st.just(real), st.one_of(trace_codes_for(med if isinstance(med, str)
                                                                                         else ""), json_scalar)))
    if draw(st.booleans()):
        line["donated"] = draw(mostly(st.booleans(), json_scalar))
    if draw(st.sampled_from([False] * 19 + [True])):
        line[draw(st.text(min_size=1, max_size=8))] = draw(json_scalar)
    return line


@pytest.fixture(scope="module")
def zhang_ref(live) -> str:
    """张伟, with his circulated prescriptions downloaded (7202/7203), so a body naming one reaches eligibility
    rather than stopping at RX_NOT_DOWNLOADED."""
    ref = identify(live.http, ZHANG)["patient_ref"]
    list_prescriptions(live.http, ref)
    return ref


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(lines=mostly(st.lists(sale_line(), min_size=1, max_size=4), st.lists(sale_line(), max_size=60)),
       acct=mostly(st.booleans(), json_scalar), confirm=mostly(st.booleans(), json_scalar),
       rx=mostly(st.one_of(st.none(), st.sampled_from([p["data"]["hi_rxno"] for p in DEMO["prescriptions"]])),
                 st.text(max_size=70)))
def test_sale_bodies_around_a_real_patient_are_created_or_refused_without_half_rows(live, hostile_tally, zhang_ref,
                                                                                     lines, acct, rx, confirm):
    before = ledger_counts(live.svc)
    body = {"patient_ref": zhang_ref, "lines": lines, "acct_used": acct, "hi_rxno": rx, "confirm_selfpay": confirm}
    r = live.http.post("/v1/sales", body)
    hostile_tally.add("sales")
    assert_sane(r)
    after = ledger_counts(live.svc)
    if r.status_code == 201:
        sale = r.json()
        assert sale["state"] == "draft" and len(sale["lines"]) == len(lines)
        assert after["sales"] == before["sales"] + 1
    else:
        assert r.status_code in (400, 404, 409, 422, 502, 503), (r.status_code, r.text[:300])
        for table in ("sales", "sale_lines", "trace_codes", "journal", "outbox"):
            if table in before:
                assert after[table] == before[table], f"{table} changed on a refused sale: {r.text[:300]}"


@pytest.fixture(scope="module")
def editable_sale(live, zhang_ref) -> str:
    return new_sale(live.http, zhang_ref, qty="2")["id"]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(codes=mostly(st.lists(st.builds(lambda: pack(prefix_of(OSIMERTINIB))), min_size=1, max_size=2),
                    st.one_of(st.lists(st.one_of(st.text(max_size=60), st.from_regex(r"8[0-9]{19}", fullmatch=True),
                                                 st.builds(lambda: pack(prefix_of(SECUKINUMAB)))), max_size=5),
                              json_scalar)),
       line_no=mostly(st.sampled_from([None, 1]), st.one_of(st.integers(-3, 60), json_scalar)),
       method=st.sampled_from(["POST", "DELETE"]))
def test_trace_code_edits_are_applied_or_refused_whole(live, hostile_tally, editable_sale, codes, line_no, method):
    before = live.svc.ledger.query_one("SELECT count(*) FROM trace_codes WHERE sale_id = ?", (editable_sale,))[0]
    body: dict[str, Any] = {"codes": codes}
    if line_no is not None:
        body["line_no"] = line_no
    r = live.http.session.request(method, f"{live.base}/v1/sales/{editable_sale}/trace-codes", json=body, timeout=30)
    hostile_tally.add("trace_codes")
    assert_sane(r)
    after = live.svc.ledger.query_one("SELECT count(*) FROM trace_codes WHERE sale_id = ?", (editable_sale,))[0]
    if r.status_code >= 400:
        assert after == before, f"a refused {method} changed the sale's packs: {r.text[:300]}"
