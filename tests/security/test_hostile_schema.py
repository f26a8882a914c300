"""Schema fuzzing (schemathesis 4) of every operation in the live `GET /openapi.json` (docs/pos-integration.md,
docs/developing.md "no 500 on any input"): valid and invalid requests, including ones aimed at real sales in every
state, must get a documented answer — never a 5xx, never a traceback, and on 4xx always
`{"error": {code, message, message_zh, details}}`.

The default run sends about a thousand requests; `-m slow` sends more than ten thousand. Run with `-s` to see
`hostile: N requests`.
"""
from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import PERSONS, ZHANG, identify, new_sale
from tests.security.conftest import assert_sane, sale_on_fresh_rx

# Server-sent events never end; they are checked separately (test_hostile_paths_headers).
NOT_FUZZED = {"/v1/events"}


def _sales_in_every_state(live) -> dict[str, str]:
    """One real sale per reachable state, so fuzzed bodies meet the state machine, not just 404."""
    http, sb = live.http, live.sandbox_http
    zhang = identify(http, ZHANG)["patient_ref"]
    ids: dict[str, str] = {}

    def sale() -> str:     # each on a prescription of its own: a dispensed one cannot be sold again
        return sale_on_fresh_rx(http, sb, zhang)["id"]
    ids["draft"] = sale()
    settled = sale()
    assert http.post(f"/v1/sales/{settled}/settle").status_code == 200
    ids["settled"] = settled
    refunded = sale()
    assert http.post(f"/v1/sales/{refunded}/settle").status_code == 200
    assert http.post(f"/v1/sales/{refunded}/refund").status_code == 200
    ids["refunded"] = refunded
    doubt = sale()
    sb.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    assert http.post(f"/v1/sales/{doubt}/settle").status_code == 409
    ids["in_doubt"] = doubt
    cancelled = sale()
    assert http.session.delete(f"{http.base}/v1/sales/{cancelled}").status_code == 200
    ids["cancelled"] = cancelled
    # an ineligible line (陈静 has no filing: NO_FILING, decided at the counter from 5301) so LINES_INELIGIBLE and
    # the confirm_selfpay paths are reachable
    chen = identify(http, PERSONS["陈静"])["patient_ref"]
    ineligible = new_sale(http, chen, rx="HX36011100301000000008")
    assert ineligible["lines"][0]["reasons"][0]["code"] == "NO_FILING"
    ids["ineligible"] = ineligible["id"]
    return ids


@pytest.fixture(scope="module")
def fuzz_target(live):
    schema = schemathesis.openapi.from_url(f"{live.base}/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in ops} >= {"/v1/scans", "/v1/sales", "/v1/sales/{sale_id}/settle",
                                      "/v1/patients/identify", "/v1/reconciliation"}
    return schema, [op for op in ops if op.path not in NOT_FUZZED], _sales_in_every_state(live)


def _has_inputs(op) -> bool:
    raw = op.definition.raw
    return bool(raw.get("parameters")) or "requestBody" in raw


def _strategy(op, mode: GenerationMode, sale_ids: dict[str, str]):
    plain = op.as_strategy(generation_mode=mode)
    if "{sale_id}" not in op.path:
        return plain
    aimed = [op.as_strategy(generation_mode=mode, path_parameters={"sale_id": sid}) for sid in sale_ids.values()]
    return st.one_of(plain, *aimed)


def run_fuzz(live, fuzz_target, tally, record_property, *, per_operation: int, name: str,
             derandomize: bool) -> int:
    """Fuzz every operation in both modes; collect every distinct failure, then fail once listing them all."""
    _, ops, sale_ids = fuzz_target
    session = requests.Session()
    sent: Counter[str] = Counter()
    failures: dict[tuple[str, str], str] = {}

    def one(op, case) -> None:
        try:
            resp = case.call(base_url=live.base, session=session, timeout=30)
        except requests.RequestException as exc:
            failures.setdefault((op.label, type(exc).__name__), f"{exc}\n{case.as_curl_command()}")
            return
        sent[op.label] += 1
        tally.add(name)
        try:
            assert_sane(resp, where=f"{op.label} [{resp.status_code}]")
            case.validate_response(resp, checks=[not_a_server_error, response_schema_conformance])
        except BaseException as exc:  # noqa: BLE001 — FailureGroup is an exception group; collect, don't stop
            if isinstance(exc, KeyboardInterrupt):
                raise
            key = (op.label, str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__)
            failures.setdefault(key, f"{str(exc)[:1500]}\nReproduce: {case.as_curl_command()}")

    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(op):
                continue

            @settings(max_examples=per_operation, deadline=None, database=None, phases=[Phase.generate],
                      derandomize=derandomize,
                      suppress_health_check=list(HealthCheck))
            @given(case=_strategy(op, mode, sale_ids))
            def fuzz(case) -> None:
                one(op, case)  # noqa: B023 -- fuzz() runs within this iteration, below

            fuzz()
    total = sum(sent.values())
    print(f"hostile: {total} requests ({name}, {len(ops)} operations)")
    record_property("hostile_requests", total)
    assert not failures, f"{len(failures)} distinct failures in {total} requests:\n\n" + "\n\n".join(
        f"== {op}: {what}\n{detail}" for (op, what), detail in failures.items())
    return total


def test_every_operation_answers_fuzzed_requests_without_5xx_and_in_the_documented_shape(
        live, fuzz_target, hostile_tally, record_property):
    total = run_fuzz(live, fuzz_target, hostile_tally, record_property, per_operation=25, name="schema",
                     derandomize=True)
    assert total >= 500, f"hostile: only {total} requests were generated"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_thousand_fuzzed_requests_answer_without_5xx_and_in_the_documented_shape(
        live, fuzz_target, hostile_tally, record_property):
    total = run_fuzz(live, fuzz_target, hostile_tally, record_property, per_operation=300,
                     name="schema_slow", derandomize=False)
    assert total >= 10_000, f"hostile: only {total} requests were generated"


def test_fuzzed_sales_stay_consistent_with_the_insurers_books(live, fuzz_target):
    """After the fuzzing above, every settlement rxlane calls settled is settled once at the insurer, and every
    in-doubt sale resolves: hostile input moved no money behind the ledger's back."""
    http, sb = live.http, live.sandbox_http
    for row in live.svc.ledger.query("SELECT id FROM sales WHERE state IN ('in_doubt', 'refund_in_doubt')"):
        assert http.post(f"/v1/sales/{row['id']}/resolve").status_code == 200
    books = {s["setl_id"]: s["state"] for s in sb.get("/sandbox/ledger").json()["settlements"]}
    for row in live.svc.ledger.query("SELECT id, state, setl_id FROM sales WHERE setl_id IS NOT NULL"):
        want = {"settled": "settled", "refunded": "cancelled"}.get(row["state"])
        if want:
            assert books.get(row["setl_id"]) == want, (row["id"], row["state"], books.get(row["setl_id"]))


# -- pinned regressions: the fuzzer's findings, one request each -----------------------------------------------------
@pytest.mark.parametrize("month", ["0000-08", "9999-12", "0000-01"])
def test_a_month_outside_the_calendar_is_invalid_input_not_a_500(live, month):
    r = live.http.get("/v1/reports/monthly", params={"month": month})
    assert_sane(r)
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "month"


def test_the_setl_id_lookup_answer_matches_its_documented_schema(live, fuzz_target):
    """`GET /v1/sales?setl_id=` answers `{setl_id, sales}`; the document promised `{date, sales}` only."""
    schema, _, _ = fuzz_target
    op = next(o for o in (r.ok() for r in schema.get_all_operations()) if o.label == "GET /v1/sales")
    case = op.Case(query={"setl_id": "NOPE"})
    resp = case.call(base_url=live.base)
    case.validate_response(resp, checks=[not_a_server_error, response_schema_conformance])


def test_printing_without_a_printer_is_an_error_object(live, fuzz_target):
    """`POST /v1/sales/{id}/print` with no printer answered 409 `{ok, error, error_zh}` — not the error shape."""
    _, _, ids = fuzz_target
    r = live.http.post(f"/v1/sales/{ids['settled']}/print")
    assert_sane(r)


@pytest.mark.parametrize("auth", ["Bearer", "Bearer ", "Bearer " + "x" * 10000, "Basic YTpi", "Bearer ' OR 1=1--",
                                  "Bearer \u00e9\u00e9", "bearer abc", "Bearer a b c", "Bearer %00"])
def test_hostile_authorization_headers_are_401_json(live, auth):
    r = live.http.get("/v1/sales", headers={"Authorization": auth.encode("utf-8").decode("latin-1")})
    assert_sane(r)
    assert r.status_code in (400, 401, 431), r.text
    if r.status_code != 431:
        assert r.json()["error"]["code"] in ("UNAUTHORIZED", "INVALID_INPUT")
