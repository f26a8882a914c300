"""Answer variants (``POST /sandbox/variants``, docs/sandbox.md): the sandbox answers the way real gateways differ
(docs/gateway.md "Reading answers") — GBK/GB18030 bodies, ``output`` as a JSON string, ``infcode`` as a string,
``""`` for null, money as strings, unknown extra fields — and the adapter's real client reads every variant back to
the same typed records as the baseline."""
import json

import pytest
import requests

from adapters.nhsa import catalogue, person, prescriptions, settlement
from adapters.nhsa.client import encode_body
from tests.adapters.conftest import LIU, PHARMACY, ZHANG, make_client, settle_body

VARIANTS = {
    "gbk": {"charset": "gbk"},
    "gb18030": {"charset": "gb18030"},
    "output_as_string": {"output_as_string": True},
    "infcode_as_string": {"infcode_as_string": True},
    "empty_strings": {"nulls": False},
    "money_as_strings": {"numbers_for_money": False},
    "extra_fields": {"extra_fields": True},
    "all_at_once": {"charset": "gbk", "output_as_string": True, "infcode_as_string": True, "nulls": False,
                    "numbers_for_money": False, "extra_fields": True},
}


def records(client) -> dict:
    """What rxlane reads from one round of the counter's messages, as typed records."""
    zhang = person.parse_person(client.call("1101", person.person_info_input("02", ZHANG["certno"])))
    listed = prescriptions.parse_rx_list(client.call("7202", prescriptions.rx_query_input(
        mdtrt_cert_type="02", mdtrt_cert_no=LIU["certno"], card_sn="", insuplc_admdvs="360102", ip_info="I",
        opter="O", opter_name="N", optins=PHARMACY)))
    rx = prescriptions.parse_rx(client.call("7203", prescriptions.rx_download_input(
        insuplc_admdvs="360102", auth_rxno=listed[0].auth_rxno)))
    quote = settlement.parse_setlinfo(client.call("2101", settle_body(), insuplc_admdvs="360102"))
    return {
        "person": zhang,
        "filings": person.parse_filings(client.call("5301", person.filing_query_input(ZHANG["psn_no"]),
                                                    insuplc_admdvs="360102")),
        "registrations": person.parse_registrations(client.call("5302", person.registrations_input(
            ZHANG["psn_no"]), insuplc_admdvs="360102")),
        "accumulations": person.parse_accumulations(client.call("5206", person.accumulations_input(
            LIU["psn_no"]), insuplc_admdvs="360102")),
        "catalogue": catalogue.parse_catalogue(client.call("1312", catalogue.catalogue_query_input(
            updt_time="2000-01-01", page_num=1, page_size=10))),
        "ceilings": catalogue.parse_price_ceilings(client.call("1318", catalogue.price_ceiling_input(
            updt_time="2000-01-01", page_num=1, page_size=10))),
        "institutions": catalogue.parse_institutions(client.call("1201", catalogue.institution_query_input(
            "H36010200101"))),
        "listing": [(r.diag_name, r.fixmedins_code, r.prsc_time, r.valid_end_time) for r in listed],
        "prescription": rx,
        "split": quote.split(),
        "lines": quote.lines,
        "setldetail": [{k: v for k, v in d.items()} for d in quote.setldetail],
    }


def _normal(value):
    """Record values compared as rxlane uses them: money as Decimal values, empty text as ""."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in ("exp_content", "expcontent", "hifdm_pay",
                                                                      "psn_insu_rlts_id")}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _setldetail_values(rows):
    from decimal import Decimal
    return [{k: (Decimal(str(v)) if k in ("fund_payamt", "inscp_scp_amt") and v not in ("", None) else v)
             for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_reads_back_to_the_same_typed_records(sandbox, name):
    client = make_client(sandbox.url)
    client.sign_in()
    baseline = records(client)
    assert requests.post(sandbox.url + "/sandbox/variants", json=VARIANTS[name], timeout=5).status_code == 200
    varied = records(client)
    for key in baseline:
        if key == "setldetail":
            assert _normal(_setldetail_values(varied[key])) == _normal(_setldetail_values(baseline[key])), key
        else:
            assert _normal(varied[key]) == _normal(baseline[key]), key


def _raw_answer(sandbox, client, infno="1101", inp=None, **kw):
    env = client.prepare(infno, inp or person.person_info_input("02", ZHANG["certno"]), **kw)
    return requests.post(sandbox.url + client.profile.path(infno), data=encode_body(env.body), timeout=5,
                         headers={"Content-Type": "application/json"})


def test_each_variant_is_really_on_the_wire(sandbox):
    client = make_client(sandbox.url)
    client.sign_in()
    set_variants = lambda **v: requests.post(sandbox.url + "/sandbox/variants", json=v, timeout=5)  # noqa: E731
    baseline = _raw_answer(sandbox, client)
    assert baseline.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert baseline.json()["infcode"] == 0 and isinstance(baseline.json()["output"], dict)
    assert baseline.json()["err_msg"] is None and isinstance(baseline.json()["output"]["insuinfo"][0]["balc"], float)

    set_variants(charset="gbk")
    gbk = _raw_answer(sandbox, client)
    assert gbk.headers["Content-Type"] == "application/json;charset=GBK"
    with pytest.raises(UnicodeDecodeError):
        gbk.content.decode("utf-8")
    assert json.loads(gbk.content.decode("gbk"))["output"]["baseinfo"]["psn_name"] == "张伟"

    set_variants(charset="utf-8", output_as_string=True, infcode_as_string=True)
    text = _raw_answer(sandbox, client).json()
    assert text["infcode"] == "0" and isinstance(text["output"], str)
    assert json.loads(text["output"])["baseinfo"]["psn_no"] == ZHANG["psn_no"]

    set_variants(output_as_string=False, infcode_as_string=False, nulls=False, numbers_for_money=False)
    plain = _raw_answer(sandbox, client).json()
    assert plain["err_msg"] == "" and plain["output"]["insuinfo"][0]["paus_insu_date"] == ""
    assert plain["output"]["insuinfo"][0]["balc"] == "5000.00"
    assert "null" not in _raw_answer(sandbox, client).text

    set_variants(nulls=True, numbers_for_money=True, extra_fields=True)
    extra = _raw_answer(sandbox, client).json()
    assert {"expContent", "hifdm_pay", "psn_insu_rlts_id"} <= set(extra["output"]["insuinfo"][0])
    assert {"expContent", "psn_insu_rlts_id"} <= set(extra)


def test_money_is_written_from_its_decimal_digits_never_through_a_float(sandbox):
    client = make_client(sandbox.url)
    client.sign_in()
    raw = _raw_answer(sandbox, client, "2101", settle_body(), insuplc_admdvs="360102").text
    assert '"medfee_sumamt":598.00' in raw and '"pool_prop_selfpay":0.8000' in raw
    assert '"preselfpay_amt":59.80' in raw
