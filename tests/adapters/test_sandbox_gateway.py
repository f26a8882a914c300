"""The sandbox speaks the docs/gateway.md envelope at the gateway path: sign-in, person, filings, catalog, and a Chinese
refusal (never a 500) for anything it cannot take."""
import pytest
import requests

from adapters.nhsa import transactions as tx
from adapters.nhsa.errors import GatewayRefused
from tests.adapters.conftest import LIU, PHARMACY, ZHANG

PATH = "/fsi/api/rsfComIfsService/callService"


def test_sign_in_returns_a_sign_no_the_insurer_records(sandbox, gateway):
    assert gateway.sign_no
    assert sandbox.books.ledger()["sign_ins"][0]["sign_no"] == gateway.sign_no


@pytest.mark.parametrize("cert_type,cert_no,card_sn", [
    ("01", "ECARD7K2M9Q4T1X8B3N6Q", ""),
    ("02", "360121196805122010", ""),
    ("03", "A36010201", "360100D15600000500A1B2C3D4E5F601"),
])
def test_person_info_by_each_certificate_type(gateway, cert_type, cert_no, card_sn):
    person = tx.parse_person(gateway.call("1101", tx.person_info_input(cert_type, cert_no, card_sn)))
    assert person.psn_no == ZHANG["psn_no"] and person.psn_name == "张伟"
    assert person.insurance.insutype == "310" and person.insurance.insuplc_admdvs == "360102"
    assert person.gend == "1" and person.brdy == "1968-05-12"


def test_card_without_card_sn_is_refused(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", tx.person_info_input("03", "A36010201"))
    assert "card_sn" in err.value.err_msg


def test_unknown_person_is_refused_in_chinese(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", tx.person_info_input("02", "110101199003070011"))
    assert err.value.infcode == -1 and err.value.err_msg == "未查询到人员信息"


def test_low_balance_patient_shows_balance_as_decimal(gateway):
    person = tx.parse_person(gateway.call("1101", tx.person_info_input("02", LIU["certno"])))
    assert str(person.insurance.balc) == "50.00"


def test_filings_carry_the_dual_channel_fields(gateway):
    rows = tx.parse_filings(gateway.call("5301", tx.filing_query_input(ZHANG["psn_no"]), insuplc_admdvs="360102"))
    by_drug = {r.drug_genname: r for r in rows}
    assert set(by_drug) == {"奥希替尼", "司库奇尤单抗"}
    assert by_drug["奥希替尼"].dr_codes == ("D360111003001", "D360111003002")
    assert by_drug["奥希替尼"].fixmedins_code == "H36011100301" and by_drug["司库奇尤单抗"].review_stas == "approved"


def test_catalog_is_paged_and_complete(gateway):
    first = tx.parse_catalog(gateway.call("1312", tx.catalog_query_input(page_num=1, page_size=4)))
    second = tx.parse_catalog(gateway.call("1312", tx.catalog_query_input(page_num=2, page_size=4)))
    assert first.record_counts == 6 and len(first.rows) == 4 and len(second.rows) == 2
    rows = first.rows + second.rows
    assert {r.dual_channel_category for r in rows} == {"A", "B", "C"}
    assert all(len(p) == 7 and p.startswith("8") for r in rows for p in r.trace_prefixes)


def _raw(sandbox, body, **kw):
    resp = requests.post(sandbox.url + PATH, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    assert resp.status_code == 200
    return resp.json()


def _envelope(**over):
    env = {"infno": "1101", "msgid": PHARMACY + "20250301120000" + "0001", "fixmedins_code": PHARMACY,
           "mdtrtarea_admvs": "360102", "insuplc_admdvs": "", "input": {"data": {}}}
    env.update(over)
    return env


@pytest.mark.parametrize("body,needle", [
    (b"not json", "JSON"),
    (b"[1,2]", "报文格式"),
    (_envelope(msgid="short"), "msgid"),
    (_envelope(infno=""), "infno"),
    (_envelope(input="x"), "input"),
    (_envelope(infno="9999"), "9999"),
    (_envelope(infno="2102", input={"data": {"psn_no": "1"}}), "insuplc_admdvs"),
    (_envelope(infno="2101", insuplc_admdvs="360102", input={"data": {"psn_no": LIU["psn_no"]}}), "不能为空"),
    (_envelope(infno="2601", input={"data": {}}), "omsgid"),
    (_envelope(infno="3505", input={"selinfo": [{"med_list_codg": "X", "sel_retn_cnt": 1}]}), "追溯码"),
    (_envelope(infno="1312", input={"data": {"page_size": "abc"}}), "page_size"),
])
def test_malformed_messages_are_refused_with_a_chinese_message_never_a_500(sandbox, body, needle):
    import json
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = _raw(sandbox, raw)
    assert answer["infcode"] == -1 and needle in answer["err_msg"]
    assert answer["output"] is None and len(answer["inf_refmsgid"]) == 30


def test_provincial_infno_suffix_is_understood(sandbox, gateway):
    gateway.settings.infno_suffix = {"1312": "A"}
    assert tx.parse_catalog(gateway.call("1312", tx.catalog_query_input())).record_counts == 6
