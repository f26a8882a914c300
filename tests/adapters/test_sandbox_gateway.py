"""The sandbox gateway answers the adapter's own messages as a real gateway does (docs/gateway.md 9001, 1101, 5301,
5302, 5206, 1312, 1318, 1201, and the e-voucher decode): sign-in, the three credentials, filings without their
insurer-only facts, paged catalogue rows without dual-channel fields, and a message log that never holds a body."""
from decimal import Decimal

import pytest
import requests

from adapters.nhsa import catalogue, person
from adapters.nhsa.errors import GatewayRefused
from adapters.nhsa.profile import load_profile
from tests.adapters.conftest import LIU, PHARMACY, ZHANG, make_client

EVOUCHER = "/fsi/api/hsecfc/localQrCodeQuery"


def decode(sandbox, qr, **over):
    body = {"orgId": PHARMACY, "businessType": "02121", "operatorId": "YS0001", "operatorName": "李志强",
            "officeId": "YF01", "officeName": "药房", "deviceType": "", "ecQrCode": qr, "termId": "POS-01",
            "termIp": "10.36.1.23", "businessInfo": "", **over}
    return requests.post(sandbox.url + EVOUCHER, json=body, timeout=5).json()


def test_sign_in_issues_a_sign_no_the_insurer_records(sandbox, gateway):
    assert gateway.sign_no
    assert sandbox.books.ledger()["sign_ins"][0]["sign_no"] == gateway.sign_no


def test_sign_out_ends_the_sign_in_and_the_next_message_is_refused_until_signing_in_again(sandbox, gateway):
    from adapters.nhsa import signin
    gateway.call("9002", signin.sign_out_input(gateway.sign_no, "0001"))
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", person.person_info_input("02", LIU["certno"]))
    assert gateway.profile.sign_in_invalid(err.value.err_msg)
    gateway.sign_in()
    assert person.parse_person(gateway.call("1101", person.person_info_input("02", LIU["certno"]))).psn_no


def test_identify_by_id_number_and_by_card_with_its_card_sn(gateway):
    by_id = person.parse_person(gateway.call("1101", person.person_info_input("02", ZHANG["certno"])))
    by_card = person.parse_person(gateway.call("1101", person.person_info_input("03", ZHANG["card_no"],
                                                                                 card_sn=ZHANG["card_sn"])))
    assert by_id == by_card
    assert by_id.psn_no == ZHANG["psn_no"] and by_id.psn_name == "张伟" and by_id.gend == "1"
    assert by_id.brdy == "1968-05-12" and by_id.insurance.insuplc_admdvs == "360102"


def test_card_without_card_sn_is_refused_naming_it(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", person.person_info_input("03", ZHANG["card_no"]))
    assert "card_sn" in err.value.err_msg


def test_e_voucher_qr_is_decoded_into_a_token_and_identity_then_1101_accepts_the_token(sandbox, gateway):
    answer = decode(sandbox, ZHANG["ecard_qr"])
    data = answer["data"]
    assert answer["code"] == 0 and data["idNo"] == ZHANG["certno"] and data["userName"] == "张伟"
    assert data["ecToken"] != ZHANG["ecard_qr"] and data["insuOrg"] == "360102"
    query = person.person_info_input("01", data["ecToken"], psn_cert_type=data["idType"], certno=data["idNo"],
                                     psn_name=data["userName"])
    assert person.parse_person(gateway.call("1101", query)).psn_no == ZHANG["psn_no"]


def test_each_decode_issues_a_fresh_token(sandbox):
    first, second = (decode(sandbox, ZHANG["ecard_qr"])["data"]["ecToken"] for _ in range(2))
    assert first != second


def test_the_qr_value_itself_is_not_a_token(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", person.person_info_input("01", ZHANG["ecard_qr"]))
    assert "mdtrt_cert_no" in err.value.err_msg


def test_an_expired_token_is_refused(sandbox, gateway):
    token = decode(sandbox, ZHANG["ecard_qr"])["data"]["ecToken"]
    sandbox.gateway.token_lifetime_s = 0
    try:
        token = decode(sandbox, ZHANG["ecard_qr"])["data"]["ecToken"]
        with pytest.raises(GatewayRefused) as err:
            gateway.call("1101", person.person_info_input("01", token))
    finally:
        sandbox.gateway.token_lifetime_s = 3600
    assert "过期" in err.value.err_msg


def test_a_token_with_someone_elses_name_is_refused(sandbox, gateway):
    token = decode(sandbox, ZHANG["ecard_qr"])["data"]["ecToken"]
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", person.person_info_input("01", token, certno=ZHANG["certno"], psn_name="李四"))
    assert "psn_name" in err.value.err_msg


def test_unknown_qr_value_is_refused_as_real_decode_services_refuse_it(sandbox):
    assert decode(sandbox, "4260173956819999999999360102") == {
        "code": 500159, "success": False, "message": "请使用医保电子凭证二维码"}
    assert decode(sandbox, "")["code"] != 0


def test_unknown_person_is_refused_in_chinese(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", person.person_info_input("02", "110101199003070011"))
    assert err.value.infcode == -1 and err.value.err_msg == "未查询到人员信息"
    assert err.value.answer.raw["output"] is None and err.value.answer.raw["inf_refmsgid"] is None


def test_1101_has_no_year_to_date_figures_they_come_from_5206(gateway):
    out = gateway.call("1101", person.person_info_input("02", LIU["certno"]))
    assert "ytd" not in out["insuinfo"][0]
    cum = person.parse_accumulations(gateway.call("5206", person.accumulations_input(LIU["psn_no"]),
                                                  insuplc_admdvs="360102"))
    assert {a.cum_type_code: a.cum for a in cum} == {"C0101": Decimal(0), "C0201": Decimal("2400.00"),
                                                     "C0301": Decimal("300.00"), "C0401": Decimal(0)}


def test_filings_answer_only_disease_and_dates(gateway):
    out = gateway.call("5301", person.filing_query_input(ZHANG["psn_no"]), insuplc_admdvs="360102")
    assert all(set(row) == {"opsp_dise_code", "opsp_dise_name", "begndate", "enddate", "exp_content"}
               for row in out["feedetail"])
    codes = {r.opsp_dise_code for r in person.parse_filings(out)}
    assert codes == {"M00500", "M07101"}


def test_designated_institutions_of_the_filings_are_5302_registrations(gateway):
    rows = person.parse_registrations(gateway.call("5302", person.registrations_input(ZHANG["psn_no"]),
                                                   insuplc_admdvs="360102"))
    assert {r.fixmedins_code for r in rows} == {"H36011100301", "H36010200101"}


def test_catalogue_is_paged_and_has_no_dual_channel_fields(gateway):
    first = catalogue.parse_catalogue(gateway.call("1312", catalogue.catalogue_query_input(
        updt_time="2000-01-01", page_num=1, page_size=4)))
    second = catalogue.parse_catalogue(gateway.call("1312", catalogue.catalogue_query_input(
        updt_time="2000-01-01", page_num=2, page_size=4)))
    assert (first.record_counts, first.pages, len(first.rows), len(second.rows)) == (6, 2, 4, 2)
    raw = gateway.call("1312", catalogue.catalogue_query_input(updt_time="2000-01-01", page_num=1, page_size=10))
    forbidden = {"category", "payment_standard", "generic_name", "drug_genname", "agreement_end",
                 "dual_channel_category", "trace_prefixes"}
    assert all(not forbidden & set(row) for row in raw["data"])


def test_catalogue_rows_updated_after_the_date_asked_and_one_code(gateway):
    later = catalogue.parse_catalogue(gateway.call("1312", catalogue.catalogue_query_input(
        updt_time="2999-01-01", page_num=1, page_size=10)))
    one = catalogue.parse_catalogue(gateway.call("1312", catalogue.catalogue_query_input(
        updt_time="2000-01-01", page_num=1, page_size=10, hilist_code="XL04ACS251B002010100702")))
    assert later.rows == [] and [r.hilist_code for r in one.rows] == ["XL04ACS251B002010100702"]


def test_price_ceiling_is_the_payment_standard_the_insurer_adjudicates_with(gateway):
    page = catalogue.parse_price_ceilings(gateway.call("1318", catalogue.price_ceiling_input(
        updt_time="2000-01-01", page_num=1, page_size=10, hilist_code="XL04ACS251B002010100702")))
    assert [r.hilist_pric_uplmt_amt for r in page.rows] == [Decimal("598.00")]


def test_institution_query_answers_the_hospital_level(gateway):
    [inst] = catalogue.parse_institutions(gateway.call("1201", catalogue.institution_query_input("H36010400201")))
    # the national 医院等级 code (05 二级甲等), which the profile's [hosp_lv] maps to the policy's level 2
    assert (inst.fixmedins_name, inst.hosp_lv) == ("南昌市示范第一医院", "05")
    assert load_profile("national").hosp_lv[inst.hosp_lv] == "2"


def test_message_log_has_every_verdict_and_never_a_body(sandbox, gateway):
    with pytest.raises(GatewayRefused):
        gateway.call("1101", person.person_info_input("02", "110101199003070011"))
    entries = requests.get(sandbox.url + "/sandbox/messages", timeout=5).json()["messages"]
    assert [(e["infno"], e["verdict"]) for e in entries] == [("9001", "accepted"), ("1101", "refused")]
    assert entries[1]["err_msg"] == "未查询到人员信息" and len(entries[1]["msgid"]) == 30
    assert all(set(e) == {"at", "infno", "msgid", "path", "verdict", "err_msg"} for e in entries)
    assert "110101199003070011" not in str(entries)


def test_the_embedded_default_runs_the_national_profile_on_its_single_endpoint(sandbox):
    client = make_client(sandbox.url)
    assert client.settings.endpoint("1101").endswith("/fsi/api/rsfComIfsService/callService")
    client.sign_in()


# -- a 国密 province: signatures and encryption survive the strict checks and the renderer ----------------------------
SM4_KEY = "5a5a5a5a0123456789abcdefdeadbeef"
PHARMACY_KEY = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
INSURER_KEY = "128b2fa8bd433c6c068c8d803dff79792a519a55171b1b650c23661d15897263"


def test_sm2_signed_messages_round_trip_with_signed_answers(sandbox):
    from adapters.nhsa.smcrypto import SmCrypto, sm2_public_key_of
    sandbox.crypto = SmCrypto(signtype="SM2", private_key=PHARMACY_KEY).insurer_side(private_key=INSURER_KEY)
    client = make_client(sandbox.url, signtype="SM2", sm2_private_key=PHARMACY_KEY,
                         sm2_public_key=sm2_public_key_of(INSURER_KEY))
    client.sign_in()
    # money answers (Decimal on the sandbox side) are signed over the JSON the client reads
    cum = person.parse_accumulations(client.call("5206", person.accumulations_input(LIU["psn_no"]),
                                                 insuplc_admdvs="360102"))
    assert len(cum) == 4


def test_sm4_encrypted_messages_are_checked_after_decryption(sandbox):
    from adapters.nhsa.smcrypto import SmCrypto
    sandbox.crypto = SmCrypto(sm4_key=SM4_KEY, encrypt_body=True).insurer_side()
    client = make_client(sandbox.url, sm4_key=SM4_KEY, encrypt_body=True)
    client.sign_in()
    assert person.parse_person(client.call("1101", person.person_info_input("02", LIU["certno"]))).psn_name == "刘洋"
    env = client.prepare("1101", person.person_info_input("02", LIU["certno"]))
    env.body["input"]["data"]["mdtrt_cert_type"] = ""
    with pytest.raises(GatewayRefused) as err:
        client.send(env)
    assert "mdtrt_cert_type" in err.value.err_msg
