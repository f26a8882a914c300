"""The strict sandbox refuses what a real gateway refuses (docs/gateway.md "Request envelope"): one test per kind of
refusal, each sent over real HTTP as a wire sample with one thing wrong, each answered with ``infcode -1``, ``output``
and ``inf_refmsgid`` null and a Chinese ``err_msg`` naming the field — or, for a message the gateway cannot route,
the bare error envelope."""
import copy
import json
from pathlib import Path

import pytest
import requests

from adapters.nhsa import person
from adapters.nhsa.errors import GatewayRefused
from adapters.nhsa.profile import load_profile, profile_from_mapping
from adapters.nhsa.signing import sign_headers, sm3_ca_headers
from tests.adapters.conftest import PHARMACY, make_client

WIRE = Path(__file__).resolve().parent / "wire"
PATH = "/fsi/api/rsfComIfsService/callService"


def sample(name: str, sign_no: str, **over) -> dict:
    env = copy.deepcopy(json.loads((WIRE / name).read_text(encoding="utf-8")))
    client = make_client("http://unused")
    env.update({"sign_no": sign_no, "inf_time": client._clock().strftime("%Y-%m-%d %H:%M:%S"),
                "msgid": client.msgids.next(), **over})
    return env


@pytest.fixture
def signed(sandbox):
    client = make_client(sandbox.url)
    client.sign_in()
    return sandbox, client.sign_no


def post(sandbox, body, path=PATH, headers=None) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    resp = requests.post(sandbox.url + path, data=raw, timeout=5,
                         headers={"Content-Type": "application/json", **(headers or {})})
    assert resp.status_code == 200
    return resp.json()


def refused(answer: dict, needle: str) -> str:
    assert answer["infcode"] == -1 and needle in answer["err_msg"], answer
    assert answer["output"] is None and answer["inf_refmsgid"] is None
    return answer["err_msg"]


@pytest.mark.parametrize("body,needle", [(b"not json", "JSON"), (b"[1, 2]", "JSON对象"), (b"\xff\xfe", "UTF-8")])
def test_a_body_that_is_not_a_utf8_json_object(signed, body, needle):
    refused(post(signed[0], body), needle)


def test_missing_infno(signed):
    sandbox, sign_no = signed
    env = sample("1101.request.idcard.json", sign_no)
    del env["infno"]
    refused(post(sandbox, env), "交易编号[infno]")


def test_unknown_infno_gets_the_bare_error_envelope(signed):
    answer = post(signed[0], sample("1101.request.idcard.json", signed[1], infno="9999"))
    assert answer == {"type": "error", "infcode": -1, "err_msg": "交易报文不正确：未知交易编号！交易编号[infno]9999"}


@pytest.mark.parametrize("msgid,needle", [("", "发送方报文ID[msgid]不能为空"), ("P" * 31, "不能超过30位"),
                                          (12345, "发送方报文ID[msgid]格式不正确")])
def test_bad_msgid(signed, msgid, needle):
    refused(post(signed[0], sample("1101.request.idcard.json", signed[1], msgid=msgid)), needle)


def test_a_short_msgid_is_accepted_only_uniqueness_and_length_are_enforced(signed):
    answer = post(signed[0], sample("1101.request.idcard.json", signed[1], msgid="240510084440-H4113-4357"))
    assert answer["err_msg"] == "未查询到人员信息"    # got past the envelope: the sample's person is not in the demo


@pytest.mark.parametrize("field,value,needle", [
    ("fixmedins_code", "", "定点医药机构编号[fixmedins_code]"),
    ("fixmedins_name", None, "定点医药机构名称[fixmedins_name]"),
    ("opter", "", "经办人[opter]"),
    ("opter_name", "", "经办人姓名[opter_name]"),
    ("opter_type", "9", "经办人类别[opter_type]"),
    ("inf_time", "2025/11/20 09:30", "交易时间[inf_time]"),
    ("mdtrtarea_admvs", "3601", "就医地医保区划[mdtrtarea_admvs]"),
    ("infver", "1.0", "接口版本号[infver]"),
    ("recer_sys_code", "FSI_LOCAL", "接收方系统代码[recer_sys_code]"),
    ("input", "x", "交易输入[input]"),
])
def test_bad_envelope_field_is_named(signed, field, value, needle):
    refused(post(signed[0], sample("1101.request.idcard.json", signed[1], **{field: value})), needle)


@pytest.mark.parametrize("sign_no", ["", "1120038"])
def test_no_sign_in_or_one_the_gateway_never_issued(signed, sign_no):
    text = refused(post(signed[0], sample("1101.request.idcard.json", sign_no)), "签到")
    assert load_profile("national").sign_in_invalid(text)


def test_a_sign_in_of_another_institution_is_not_this_ones(signed):
    sandbox, sign_no = signed
    refused(post(sandbox, sample("1101.request.idcard.json", sign_no, fixmedins_code="P36010299999")), "签到")


def test_wrong_input_node_name(signed):
    env = sample("2102.request.json", signed[1])
    env["input"]["data"] = env["input"].pop("druginfo")
    refused(post(signed[0], env), "交易输入缺少节点[druginfo]")


def test_node_of_the_wrong_shape(signed):
    env = sample("2102.request.json", signed[1])
    env["input"]["druginfo"] = [env["input"]["druginfo"]]
    refused(post(signed[0], env), "节点[druginfo]应为对象")


def test_missing_required_field(signed):
    env = sample("2102.request.json", signed[1])
    del env["input"]["druginfo"]["med_type"]
    refused(post(signed[0], env), "参数[druginfo.med_type]不能为空")


def test_missing_required_line_field(signed):
    env = sample("2102.request.json", signed[1])
    env["input"]["drugdetail"][0]["pric"] = ""
    refused(post(signed[0], env), "参数[drugdetail[0].pric]不能为空")


def test_missing_one_of_the_alternative_keys(signed):
    env = sample("7203.request.json", signed[1])
    env["input"]["data"]["auth_rxno"] = ""
    refused(post(signed[0], env), "参数[epc_token/auth_rxno]至少填写一项")


def test_a_person_without_insured_place(signed):
    env = sample("5301.request.json", signed[1], insuplc_admdvs="")
    refused(post(signed[0], env), "参保地医保区划[insuplc_admdvs]")


def test_a_message_on_a_path_reserved_for_another_transaction(signed):
    sandbox, _ = signed
    sandbox.gateway.profile = load_profile("zhejiang")
    client = make_client(sandbox.url, profile="zhejiang")
    client.sign_in()
    env = sample("3201.request.json", client.sign_no, infver="1.0", recer_sys_code="FSI_LOCAL")
    answer = post(sandbox, env, path="/fsi/api/reverseService/revsMethod")
    assert answer["infcode"] == -1 and "未知交易编号" in answer["err_msg"] and "output" not in answer
    # on its own path and on the province's general endpoint it is routed
    for path in ("/fsi/api/ybSettlementStmtService/stmtTotal", PATH):
        routed = post(sandbox, sample("3201.request.json", client.sign_no, infver="1.0", recer_sys_code="FSI_LOCAL"),
                      path=path)
        assert "未知交易编号" not in (routed["err_msg"] or "")


def test_recer_sys_code_by_transaction_and_by_the_patients_insutype(signed):
    sandbox, _ = signed
    sandbox.gateway.profile = load_profile("zhejiang")
    client = make_client(sandbox.url, profile="zhejiang")
    client.sign_in()
    env = sample("1101.request.idcard.json", client.sign_no, infver="1.0", recer_sys_code="FSI_LOCAL")
    refused(post(sandbox, env, path="/fsi/api/fsiPsnInfoService/queryPsnInfo"), "应为MBS_LOCAL")
    sandbox.gateway.profile = load_profile("chongqing")
    retiree = {"baseinfo": {"psn_no": "50010000000000000340", "certno": "500101193501010011", "psn_name": "离休"},
               "insuinfo": [{"insutype": "340", "insuplc_admdvs": "500101"}]}
    assert requests.post(sandbox.url + "/sandbox/persons", json=retiree, timeout=5).status_code == 201
    client = make_client(sandbox.url, profile="chongqing")
    client.sign_in()
    cancel = sample("2103.request.json", client.sign_no, insuplc_admdvs="500101")
    cancel["input"]["data"]["psn_no"] = "50010000000000000340"
    refused(post(sandbox, cancel), "应为LXXT")
    cancel["recer_sys_code"] = "LXXT"
    assert "recer_sys_code" not in post(sandbox, cancel)["err_msg"]


def test_zhejiang_signature_is_verified_over_the_exact_bytes(signed):
    sandbox, _ = signed
    sandbox.gateway.profile = load_profile("zhejiang")
    sandbox.gateway.secret = "province-secret"
    path = "/fsi/api/signInSignOutService/signIn"
    env = sample("9001.request.json", "", infver="1.0", recer_sys_code="FSI_LOCAL")
    raw = json.dumps(env, ensure_ascii=False).encode("utf-8")
    refused(post(sandbox, raw, path), "x-ca-key")
    refused(post(sandbox, raw, path, {"x-ca-key": PHARMACY, "x-ca-signature": "1:00"}), "x-ca-signature")
    forged = sm3_ca_headers(PHARMACY, "province-secret", raw + b" ")
    refused(post(sandbox, raw, path, forged), "x-ca-signature")
    assert post(sandbox, raw, path, sm3_ca_headers(PHARMACY, "province-secret", raw))["infcode"] == 0
    client = make_client(sandbox.url, profile="zhejiang", secret="province-secret")   # the adapter signs itself
    assert client.sign_in()


def test_paas_signature_is_verified_where_the_profile_asks_for_it(signed):
    sandbox, _ = signed
    sandbox.gateway.profile = profile_from_mapping({"name": "paas", "extends": "national",
                                                    "transport": {"auth": "x-tif"}})
    sandbox.gateway.secret = "paas-token"
    env = sample("9001.request.json", "")
    refused(post(sandbox, env), "x-tif")
    refused(post(sandbox, env, headers=sign_headers("PAAS1", "wrong-token")), "x-tif-signature")
    assert post(sandbox, env, headers=sign_headers("PAAS1", "paas-token"))["infcode"] == 0


def test_the_adapter_sees_each_refusal_as_a_refusal_not_as_unreachable(signed):
    sandbox, _ = signed
    client = make_client(sandbox.url)
    with pytest.raises(GatewayRefused) as err:   # never signed in
        client.call("1101", person.person_info_input("02", "360121196805122010"))
    assert not err.value.outcome_unknown and client.profile.sign_in_invalid(err.value.err_msg)


def test_every_refusal_is_in_the_message_log(signed):
    sandbox, sign_no = signed
    post(sandbox, sample("1101.request.idcard.json", sign_no, infver="9"))
    log = requests.get(sandbox.url + "/sandbox/messages", timeout=5).json()["messages"]
    assert log[-1]["verdict"] == "refused" and "infver" in log[-1]["err_msg"]
