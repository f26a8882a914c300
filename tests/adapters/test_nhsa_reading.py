"""Answers read as real gateways send them (docs/gateway.md "Reading answers"): charsets, output as a string,
infcode as a string, nulls and empty strings, money as numbers or strings, extra fields, lists of one, capitals."""
import json
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.nhsa.client import encode_body
from adapters.nhsa.envelope import parse_answer
from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.person import parse_filings, parse_person
from adapters.nhsa.reading import charset_of, decode_body
from adapters.nhsa.settlement import parse_setlinfo
from adapters.nhsa.signing import hmac_sm3_hex, sm3_ca_headers

WIRE = Path(__file__).resolve().parents[1] / "contract" / "wire"


def sample(name: str) -> dict:
    return json.loads((WIRE / name).read_text("utf-8"))


@pytest.mark.parametrize("content_type, expected", [
    ("application/json;charset=GBK", "gb18030"), ("application/json; charset=gb2312", "gb18030"),
    ("application/json;charset=UTF-8", "utf-8"), ("text/json; charset=\"GB18030\"", "gb18030"),
    ("application/json", None), ("", None), (None, None)])
def test_the_charset_comes_from_the_content_type_and_every_gb_name_reads_as_gb18030(content_type, expected):
    assert charset_of(content_type) == expected


def test_a_gbk_settlement_answer_reads_to_the_same_settlement_as_its_utf8_twin():
    raw = (WIRE / "2102.answer.gbk.bin").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")                                   # the sample really is GB-encoded
    gbk = parse_answer(json.loads(decode_body(raw, "application/json;charset=GBK")))
    utf8 = parse_answer(sample("2102.answer.gbk.json"))
    assert parse_setlinfo(gbk.output) == parse_setlinfo(utf8.output)
    # without a charset: strict UTF-8 fails, GB18030 is tried next
    assert parse_setlinfo(parse_answer(json.loads(decode_body(raw))).output).setl_id == "3601000012345678"


def test_a_utf8_bom_is_skipped_and_bytes_that_are_no_text_are_unreadable():
    assert json.loads(decode_body(b"\xef\xbb\xbf{\"infcode\": 0}", "application/json")) == {"infcode": 0}
    with pytest.raises(GatewayProtocolError):
        decode_body(b"\xff\xfe\xfa", "application/json;charset=utf-8")


@pytest.mark.parametrize("name", ["1101.answer.json", "1101.answer.output-as-string.json",
                                  "1101.answer.infcode-string.json"])
def test_every_1101_variant_reads_to_the_same_person(name):
    person = parse_person(parse_answer(sample(name)).output)
    assert person.psn_no == "36000000000000000001" and person.insurance.balc == Decimal("2450.75")
    assert person.insurance.insuplc_admdvs == "360100"


def test_a_refusal_keeps_the_insurers_words_even_in_the_minimal_error_envelope():
    answer = parse_answer({"type": "error", "infcode": -1, "err_msg": "FSI-交易报文不正确：未知交易编号！"})
    assert answer.infcode == -1 and "未知交易编号" in answer.err_msg and answer.output == {}
    assert parse_answer(sample("2601.answer.refused.json")).err_msg.startswith("FSI-调用业务基础子系统冲正失败")


@pytest.mark.parametrize("raw", [{"output": {}}, {"infcode": "zero"}, {"infcode": True}, {"infcode": 0.0},
                                 {"infcode": 0, "output": "[1, 2]"}, {"infcode": 0, "output": 7},
                                 {"infcode": 0, "output": "not json"}])
def test_an_answer_that_is_not_an_envelope_is_unreadable_not_a_refusal(raw):
    with pytest.raises(GatewayProtocolError):
        parse_answer(raw)


def test_nulls_empty_strings_numbers_strings_extra_fields_and_capitals_all_read_the_same():
    base = sample("2102.answer.json")
    info = base["output"]["setlinfo"]
    variant = dict(base, infcode="0", output=json.dumps({"SETLINFO": {
        **{k.upper(): (f"{v:.2f}" if isinstance(v, float) else ("" if v is None else v)) for k, v in info.items()},
        "hifdm_pay": "0", "psn_insu_rlts_id": "x"}, "setldetail": base["output"]["setldetail"][0],
        "detlcutinfo": base["output"]["detlcutinfo"]}, ensure_ascii=False))
    assert parse_setlinfo(parse_answer(variant).output).split() == parse_setlinfo(parse_answer(base).output).split()


def test_a_filing_node_may_be_one_object_absent_or_empty():
    assert [f.opsp_dise_code for f in parse_filings(parse_answer(sample("5301.answer.object.json")).output)] \
        == ["M00500"]
    assert parse_filings(parse_answer(sample("5301.answer.empty.json")).output) == []
    assert parse_filings({}) == []


def test_a_cancellation_answer_reads_psn_pay_and_cash_payamt_or_derives_a_missing_part():
    cancel = parse_setlinfo(parse_answer(sample("2103.answer.json")).output)
    assert cancel.amounts["psn_part_amt"] == Decimal("-1184.4") and cancel.amounts["psn_cash_pay"] == Decimal("0")
    info = dict(sample("2103.answer.json")["output"]["setlinfo"])
    del info["cash_payamt"]
    derived = parse_setlinfo({"setlinfo": info})
    assert derived.amounts["psn_cash_pay"] == Decimal("0.0") and derived.derived == ("psn_cash_pay",)


def test_money_goes_out_as_strings_or_as_exact_json_numbers_never_through_a_float():
    body = {"input": {"druginfo": {"medfee_sumamt": Decimal("4230.00"), "note": "0.1"},
                      "drugdetail": [{"pric": Decimal("0.10"), "cnt": Decimal("1")}]}}
    assert json.loads(encode_body(body)) == {"input": {"druginfo": {"medfee_sumamt": "4230.00", "note": "0.1"},
                                                       "drugdetail": [{"pric": "0.10", "cnt": "1"}]}}
    text = encode_body(body, "number").decode()
    assert '"medfee_sumamt": 4230.00' in text and '"pric": 0.10' in text and '"note": "0.1"' in text
    assert json.loads(text, parse_float=Decimal)["input"]["drugdetail"][0]["pric"] == Decimal("0.10")


def test_hmac_sm3_matches_published_vectors_and_signs_the_exact_body():
    # jht5945/hmac-sm3 README and bouncycastle's HMacTest (SM3) vectors
    assert hmac_sm3_hex("TestSecret", b"Hello World").lower() == \
        "9d91da552268ddf11b9f69662773a66c6375b250336dfb9293e7e2611c36d79f"
    headers = sm3_ca_headers("H33018300564", "s3cret", b'{"infno":"9001"}', timestamp="1700000000")
    assert headers["x-ca-key"] == "H33018300564"
    assert headers["x-ca-signature"] == "1700000000:" + hmac_sm3_hex("s3cret", b'1700000000\n{"infno":"9001"}')
