"""Hostile input to the uploads and reconciliation API (docs/reconciliation.md): every operation this work adds is
fuzzed from the live OpenAPI document, valid and invalid, and must answer without a 5xx and in its documented
shape — the house rule "no input produces a 500" for these endpoints."""
from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

PATHS = {"/v1/pharmacist", "/v1/sales/{sale_id}/upload-details", "/v1/stock", "/v1/stock/{entry_id}",
         "/v1/reconciliation/rows", "/v1/reconciliation", "/v1/outbox", "/v1/outbox/retry"}


def test_the_uploads_endpoints_answer_fuzzed_requests_without_5xx_and_as_documented(counter_factory):
    counter = counter_factory(stock=False)
    sale = counter.sell(1)
    schema = schemathesis.openapi.from_url(f"{counter.http.base}/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if op.path in PATHS]
    assert {op.path for op in ops} == PATHS
    session = requests.Session()
    failures: dict[str, str] = {}

    for op in ops:
        raw = op.definition.raw
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or "requestBody" in raw):
                continue
            strategy = op.as_strategy(generation_mode=mode)
            if "{sale_id}" in op.path:
                strategy = st.one_of(strategy, op.as_strategy(generation_mode=mode,
                                                              path_parameters={"sale_id": sale["id"]}))
            fuzz(op.label, strategy, counter.http.base, session, failures)
    assert not failures, "\n\n".join(failures.values())
    assert counter.health()["ledger"]["ok"]


def fuzz(label: str, strategy, base: str, session: requests.Session, failures: dict[str, str]) -> None:
    """Send the strategy's cases; every distinct failure is kept (not raised) so one run lists them all."""
    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate], derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case) -> None:
        resp = case.call(base_url=base, session=session, timeout=30)
        try:
            case.validate_response(resp, checks=[not_a_server_error, response_schema_conformance])
            if resp.status_code >= 400:
                assert set(resp.json()["error"]) >= {"code", "message", "message_zh"}
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.setdefault(f"{label}: {str(exc).splitlines()[0][:120]}",
                                f"{str(exc)[:800]}\n{case.as_curl_command()}")

    check()
