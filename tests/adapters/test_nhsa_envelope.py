"""The request envelope of docs/gateway.md: every field, built by prepare() without sending."""
import json
from datetime import datetime
from pathlib import Path

import responses

from adapters.nhsa.client import GatewayClient, GatewaySettings
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.person import person_info_input
from adapters.nhsa.profile import load_profile
from adapters.nhsa.settlement import reversal_input

URL = "http://gw.test"
ENDPOINT = URL + "/fsi/api/rsfComIfsService/callService"
AT = datetime(2025, 3, 1, 9, 5, 7)
WIRE = Path(__file__).resolve().parents[1] / "contract" / "wire"
BY_ID_NUMBER = person_info_input("02", "360121196805122010")


def client(**kw):
    settings = GatewaySettings(url=URL, fixmedins_code="P36010200001", fixmedins_name="示例大药房（八一店）",
                               mdtrtarea_admvs="360102", **kw)
    return GatewayClient(settings, MsgIdGenerator("P36010200001", clock=lambda: AT), clock=lambda: AT)


def test_prepare_builds_every_envelope_field():
    env = client().prepare("1101", BY_ID_NUMBER, insuplc_admdvs="360104")
    assert env.msgid == "P36010200001202503010905070001" and env.infno == "1101"
    assert env.body == {
        "infno": "1101", "msgid": env.msgid, "mdtrtarea_admvs": "360102", "insuplc_admdvs": "360104",
        "recer_sys_code": "YBXT", "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "",
        "infver": "V1.0", "opter_type": "1", "opter": "0001", "opter_name": "药师", "inf_time": "2025-03-01 09:05:07",
        "fixmedins_code": "P36010200001", "fixmedins_name": "示例大药房（八一店）", "sign_no": "",
        "input": BY_ID_NUMBER}


def test_prepare_keeps_a_given_msgid_for_resending_a_journaled_message():
    reverse = reversal_input("36010000000000000101", "P36010200001202503010905060001", "2102")
    assert client().prepare("2601", reverse, msgid="X" * 30).msgid == "X" * 30


def test_provincial_infno_suffix_goes_on_the_wire_only():
    # Chongqing's profile uploads sales as 3505A batches; the logical number stays 3505 for the journal and outbox
    batch = json.loads((WIRE / "3505A.request.json").read_text("utf-8"))["input"]
    env = client(profile=load_profile("chongqing")).prepare("3505", batch)
    assert env.infno == "3505" and env.body["infno"] == "3505A"


@responses.activate
def test_sign_in_stores_sign_no_for_later_envelopes():
    responses.post(ENDPOINT, json={"infcode": 0, "output": {"signinoutb": {"sign_no": "SN42", "sign_time": "x"}}})
    c = client()
    assert c.sign_in() == "SN42"
    assert c.sign_no == "SN42" and c.signed_in_at == AT
    assert json.loads(responses.calls[0].request.body)["input"]["signIn"]["opter_no"] == "0001"
    assert c.prepare("1101", BY_ID_NUMBER).body["sign_no"] == "SN42"


@responses.activate
def test_body_is_utf8_json_with_chinese_unescaped():
    responses.post(ENDPOINT, json={"infcode": 0, "output": {"ok": 1}})
    by_e_voucher = person_info_input("01", "360100ec7k2m9p4q8r1s3t5v0761820a0000c3", certno="360121196805122010",
                                     psn_name="张伟")
    assert client().call("1101", by_e_voucher) == {"ok": 1}
    body = responses.calls[0].request.body
    assert "张伟".encode() in body
