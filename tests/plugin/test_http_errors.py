"""One place turns every failure into the JSON error body (docs/developing.md: errors as a small hierarchy with
codes)."""
import json

import pytest
from flask import Flask

from plugin.api import http
from plugin.errors import ERRORS, REASONS, InvalidInput, RxlaneError


@pytest.fixture
def client():
    app = Flask(__name__)
    http.install(app)

    @app.get("/refuse")
    def refuse():
        raise RxlaneError("PATIENT_NOT_FOUND", details={"x": 1})

    @app.get("/invalid")
    def invalid():
        raise InvalidInput("lines[0].qty: must be greater than zero", field="lines[0].qty")

    @app.get("/boom")
    def boom():
        raise ZeroDivisionError("secret 360121196805122010")

    return app.test_client()


def test_a_refusal_becomes_its_code_status_and_both_messages(client):
    r = client.get("/refuse")
    body = r.get_json()["error"]
    assert r.status_code == 404 and body["code"] == "PATIENT_NOT_FOUND"
    assert body["message"] and body["message_zh"] and body["details"] == {"x": 1}
    assert r.headers["X-Request-Id"]


def test_invalid_input_names_the_field(client):
    body = client.get("/invalid").get_json()["error"]
    assert body["code"] == "INVALID_INPUT" and body["details"]["field"] == "lines[0].qty"


def test_an_unexpected_exception_is_a_json_500_without_traceback_or_data(client):
    r = client.get("/boom")
    text = r.get_data(as_text=True)
    assert r.status_code == 500 and r.get_json()["error"]["code"] == "INTERNAL"
    assert "Traceback" not in text and "ZeroDivision" not in text and "360121196805122010" not in text


def test_framework_errors_are_json_with_stable_codes(client):
    assert client.get("/nope").get_json()["error"]["code"] == "NOT_FOUND"
    assert client.post("/refuse").get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_request_id_is_echoed_only_when_it_is_safe(client):
    assert client.get("/refuse", headers={"X-Request-Id": "pos-1.req_42"}).headers["X-Request-Id"] == "pos-1.req_42"
    echoed = client.get("/refuse", headers={"X-Request-Id": "x\u2028y" * 40}).headers["X-Request-Id"]
    assert echoed != "x\u2028y" * 40 and len(echoed) == 16


def test_every_code_has_an_english_and_a_chinese_message_and_a_4xx_or_5xx_status():
    for spec in [*ERRORS.values(), *REASONS.values()]:
        assert spec.message and spec.message_zh and 400 <= spec.http_status < 600
        assert any("\u4e00" <= ch <= "\u9fff" for ch in spec.message_zh), spec.code


def test_unknown_codes_do_not_pass_as_someone_elses():
    err = RxlaneError("NOT_A_CODE")
    assert err.http_status == 500 and json.dumps(err.to_body())


@pytest.mark.parametrize("body, field, zh", [
    ({"lines": [{"med_list_codg": "X", "qty": "1", "price": "1.00"}]}, "patient_ref", "缺少必填字段"),
    ({"patient_ref": "P1", "lines": [{"med_list_codg": "X", "qty": "1", "price": "1.005"}]}, "lines[0].price",
     "最多两位小数"),
    ({"patient_ref": "P1", "lines": [{"med_list_codg": "X", "qty": "0", "price": "1.00"}]}, "lines[0].qty",
     "必须大于0"),
    ({"patient_ref": "P1", "lines": [], "extra": 1}, "lines", "不能为空"),
])
def test_validation_failures_read_in_chinese_too(body, field, zh):
    from plugin.api.models import SaleIn
    with Flask(__name__).test_request_context(json=body):
        with pytest.raises(InvalidInput) as err:
            http.parse(SaleIn)
    assert err.value.details["field"] == field and err.value.message_zh.endswith(zh)
