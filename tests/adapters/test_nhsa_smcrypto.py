"""国密 envelope protection (docs/gateway.md "Transport": some provinces want SM2 signatures / SM4 bodies, `signtype`,
`cainfo`): SM3 digests and SM2 signatures of the canonical input, SM4-encrypted bodies, proved over real HTTP against
a sandbox configured as such a province; refusals stay refusals, unreadable answers are outcome unknown, and key
material never shows in a repr, an error or the masked configuration."""
import base64
import json
import random
from dataclasses import replace

import pytest
import requests
import responses

from adapters.nhsa import person, settlement
from adapters.nhsa.client import GatewayClient, wire_form
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.errors import GatewayProtocolError, GatewayRefused
from adapters.nhsa.smcrypto import (ENC_FIELD, Sm4Cipher, SmCrypto, SmCryptoError, canonical_text,
                                    sm2_public_key_of, sm2_sign, sm2_verify, sm3_hex)
from adapters.sandbox.center import GATEWAY_PATH
from tests.adapters.conftest import LIU, PHARMACY, make_client, settle_body

# Fixed test keys, recognisable so a leak is easy to grep for.
SM4_KEY = "5a5a5a5a0123456789abcdefdeadbeef"
OTHER_SM4_KEY = "00112233445566778899aabbccddeeff"
PHARMACY_KEY = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
INSURER_KEY = "128b2fa8bd433c6c068c8d803dff79792a519a55171b1b650c23661d15897263"
OTHER_KEY = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21"
PERSON_QUERY = person.person_info_input("02", LIU["certno"], psn_name="刘洋")


def protected_client(url, **crypto):
    settings = replace(make_client(url).settings, **crypto)
    return GatewayClient(settings, MsgIdGenerator(PHARMACY))


@pytest.fixture
def province(sandbox):
    """The shared sandbox turned into a 国密 province for one test (``province(crypto)``), plain again after."""
    def configure(crypto):
        sandbox.crypto = crypto
        return sandbox
    yield configure
    sandbox.crypto = None


def post_raw(sandbox, body):
    resp = requests.post(sandbox.url + GATEWAY_PATH, data=json.dumps(body, ensure_ascii=False).encode(),
                         headers={"Content-Type": "application/json;charset=utf-8"}, timeout=5)
    return resp.json()


# -- the algorithms -----------------------------------------------------------------------------------------------
def test_sm3_matches_the_gb_t_32905_example_vector():
    assert sm3_hex("abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_canonical_text_sorts_keys_has_no_spaces_and_keeps_chinese():
    assert canonical_text({"data": {"psn_name": "刘某", "certno": "1"}, "a": [1, 2]}) == \
        '{"a":[1,2],"data":{"certno":"1","psn_name":"刘某"}}'


def test_sm2_signature_verifies_only_for_the_same_text_and_key():
    public = sm2_public_key_of(PHARMACY_KEY)
    signature = sm2_sign(PHARMACY_KEY, public, '{"data":{}}')
    assert len(signature) == 128 and sm2_verify(public, signature, '{"data":{}}')
    assert not sm2_verify(public, signature, '{"data":{"x":1}}')
    assert not sm2_verify(sm2_public_key_of(OTHER_KEY), signature, '{"data":{}}')
    assert not sm2_verify(public, "zz" * 64, '{"data":{}}') and not sm2_verify(public, None, '{"data":{}}')


def test_sm2_nonce_does_not_come_from_the_predictable_random_module():
    # gmssl's default nonce is random.choice: reseeding would repeat it, and a repeated nonce leaks the private key
    public = sm2_public_key_of(PHARMACY_KEY)
    random.seed(7)
    first = sm2_sign(PHARMACY_KEY, public, "same text")
    random.seed(7)
    assert sm2_sign(PHARMACY_KEY, public, "same text") != first


def test_public_key_whose_x_begins_with_04_survives_gmssl_lstrip():
    # CryptSM2(public_key=...) does lstrip("04"), which also eats an x that itself begins with 04, as OTHER_KEY's does
    assert sm2_public_key_of(OTHER_KEY).startswith("04")
    pharmacy = SmCrypto(signtype="SM2", private_key=OTHER_KEY)
    for public in (sm2_public_key_of(OTHER_KEY), "04" + sm2_public_key_of(OTHER_KEY)):
        insurer = SmCrypto(signtype="SM2", peer_public_key=public, role="insurer")
        sealed = pharmacy.seal_request({"input": {"data": {"a": 1}}})
        assert insurer.open_request(sealed)["input"] == {"data": {"a": 1}}


def test_sm4_round_trips_and_a_wrong_key_is_a_clean_error_not_garbage():
    cipher = Sm4Cipher(SM4_KEY)
    for plain in (b"", b"x" * 16, "刘某".encode()):
        assert cipher.decrypt(cipher.encrypt(plain)) == plain
    with pytest.raises(SmCryptoError):
        Sm4Cipher(OTHER_SM4_KEY).decrypt(cipher.encrypt(b'{"data":{"psn_no":"1"}}'))
    with pytest.raises(SmCryptoError):
        cipher.decrypt(b"short")


def test_misconfiguration_fails_at_construction_naming_the_setting_only():
    with pytest.raises(ValueError, match="sm2_private_key"):
        SmCrypto(signtype="SM2")
    with pytest.raises(ValueError, match="sm4_key"):
        SmCrypto(encrypt_body=True)
    with pytest.raises(ValueError, match="signtype"):
        SmCrypto(signtype="RSA")
    with pytest.raises(ValueError, match="not a point on the SM2 curve") as err:
        SmCrypto(peer_public_key="04" + "1" * 128)
    with pytest.raises(ValueError) as short:
        SmCrypto(sm4_key=SM4_KEY[:-2])
    assert SM4_KEY[:-2] not in str(short.value) and "1" * 64 not in str(err.value)


# -- the wire -----------------------------------------------------------------------------------------------------
@responses.activate
def test_default_envelope_is_byte_for_byte_the_plain_json():
    responses.post("http://gw.test" + GATEWAY_PATH, json={"infcode": 0, "output": {}})
    client = make_client("http://gw.test")
    env = client.prepare("1101", PERSON_QUERY)
    client.send(env)
    assert client.crypto.seal_request(env.body) is env.body and not client.crypto.active
    assert responses.calls[0].request.body == json.dumps(env.body, ensure_ascii=False).encode("utf-8")
    assert env.body["signtype"] == "" and env.body["cainfo"] == ""


@responses.activate
def test_sm3_cainfo_is_lowercase_hex_sm3_of_the_canonical_input():
    responses.post("http://gw.test" + GATEWAY_PATH, json={"infcode": 0, "output": {}})
    client = protected_client("http://gw.test", signtype="SM3")
    env = client.prepare("1101", PERSON_QUERY)
    client.send(env)
    sent = json.loads(responses.calls[0].request.body)
    assert sent["signtype"] == "SM3" and sent["cainfo"] == sm3_hex(canonical_text(PERSON_QUERY))
    assert sent["cainfo"] == sent["cainfo"].lower() and sent["input"] == PERSON_QUERY
    assert env.body["cainfo"] == ""  # the journalled body stays as meant; only the wire copy is sealed


@responses.activate
def test_encrypted_body_hides_the_patient_on_the_wire():
    responses.post("http://gw.test" + GATEWAY_PATH, json={"infcode": 0, "output": {}})
    client = protected_client("http://gw.test", sm4_key=SM4_KEY, encrypt_body=True)
    client.call("1101", PERSON_QUERY)
    sent = json.loads(responses.calls[0].request.body)
    assert list(sent["input"]) == [ENC_FIELD] and "刘洋" not in responses.calls[0].request.body.decode()
    assert LIU["certno"] not in responses.calls[0].request.body.decode()


# -- round trips over real HTTP -----------------------------------------------------------------------------------
def test_sm3_signed_query_round_trips(province):
    client = protected_client(province(SmCrypto(signtype="SM3", role="insurer")).url, signtype="SM3")
    client.sign_in()
    assert person.parse_person(client.call("1101", PERSON_QUERY)).psn_no == LIU["psn_no"]


def test_unsigned_message_is_refused_where_the_province_requires_sm3(province):
    client = make_client(province(SmCrypto(signtype="SM3", role="insurer")).url)
    with pytest.raises(GatewayRefused) as err:
        client.sign_in()
    assert err.value.infcode == -1 and "签名类型[signtype]必须为SM3" in err.value.err_msg
    assert not err.value.outcome_unknown


@pytest.mark.parametrize("signtype", ["SM3", "SM2"])
def test_tampered_input_is_refused_and_nothing_moves(province, signtype):
    pharmacy = SmCrypto(signtype=signtype, private_key=PHARMACY_KEY)
    sandbox = province(pharmacy.insurer_side())
    client = protected_client(sandbox.url, signtype=signtype, sm2_private_key=PHARMACY_KEY)
    client.sign_in()
    wire = client.crypto.seal_request(wire_form(client.prepare("2102", settle_body(), insuplc_admdvs="360102").body))
    wire["input"]["druginfo"]["acct_used_flag"] = "0"  # altered after signing
    answer = post_raw(sandbox, wire)
    assert answer["infcode"] == -1 and "签名验证失败" in answer["err_msg"]
    assert sandbox.books.ledger()["settlements"] == []


def test_sm2_settlement_round_trips_with_signed_answers(province):
    pharmacy = SmCrypto(signtype="SM2", private_key=PHARMACY_KEY)
    sandbox = province(pharmacy.insurer_side(private_key=INSURER_KEY))
    client = protected_client(sandbox.url, signtype="SM2", sm2_private_key=PHARMACY_KEY,
                              sm2_public_key=sm2_public_key_of(INSURER_KEY))
    client.sign_in()
    info = settlement.parse_setlinfo(client.call("2102", settle_body(), insuplc_admdvs="360102"))
    assert info.setl_id and [s["setl_id"] for s in sandbox.books.ledger()["settlements"]] == [info.setl_id]


def test_request_signed_with_another_key_is_refused(province):
    sandbox = province(SmCrypto(signtype="SM2", private_key=PHARMACY_KEY).insurer_side())
    client = protected_client(sandbox.url, signtype="SM2", sm2_private_key=OTHER_KEY)
    with pytest.raises(GatewayRefused) as err:
        client.sign_in()
    assert "报文签名验证失败" in err.value.err_msg and not err.value.outcome_unknown


def test_answer_signed_by_another_key_leaves_a_settlement_in_doubt(province):
    # the insurer committed; we cannot trust its answer: outcome unknown, resolved by asking, never by resending
    sandbox = province(SmCrypto().insurer_side(private_key=INSURER_KEY))
    client = protected_client(sandbox.url, sm2_public_key=sm2_public_key_of(INSURER_KEY))
    client.sign_in()                     # the gateway takes no settlement before 9001
    province(SmCrypto().insurer_side(private_key=OTHER_KEY))
    with pytest.raises(GatewayProtocolError) as err:
        client.call("2102", settle_body(), insuplc_admdvs="360102")
    assert err.value.outcome_unknown and "验签失败" in err.value.message_zh
    assert len(sandbox.books.ledger()["settlements"]) == 1


def test_sm4_settlement_round_trips_encrypted_both_ways(province):
    sandbox = province(SmCrypto(sm4_key=SM4_KEY, encrypt_body=True).insurer_side())
    client = protected_client(sandbox.url, sm4_key=SM4_KEY, encrypt_body=True)
    client.sign_in()
    info = settlement.parse_setlinfo(client.call("2102", settle_body(), insuplc_admdvs="360102"))
    assert info.setl_id == sandbox.books.ledger()["settlements"][0]["setl_id"]
    # what travelled back was ciphertext: the patient's data is not readable on the wire
    arrived = post_raw(sandbox, client.crypto.seal_request(client.prepare("1101", PERSON_QUERY).body))
    assert list(arrived["output"]) == [ENC_FIELD] and "刘洋" not in json.dumps(arrived, ensure_ascii=False)
    assert person.parse_person(client.crypto.open_answer(arrived)["output"]).psn_name == "刘洋"


def test_plain_body_is_refused_where_the_province_requires_sm4(province):
    client = make_client(province(SmCrypto(sm4_key=SM4_KEY, encrypt_body=True).insurer_side()).url)
    with pytest.raises(GatewayRefused) as err:
        client.sign_in()
    assert "必须为SM4加密报文" in err.value.err_msg


def test_body_under_another_sm4_key_is_refused(province):
    sandbox = province(SmCrypto(sm4_key=SM4_KEY, encrypt_body=True).insurer_side())
    client = protected_client(sandbox.url, sm4_key=OTHER_SM4_KEY, encrypt_body=True)
    with pytest.raises(GatewayRefused) as err:
        client.sign_in()
    assert "解密失败" in err.value.err_msg and OTHER_SM4_KEY not in str(err.value)


def test_all_three_together_round_trip(province):
    pharmacy = SmCrypto(signtype="SM2", private_key=PHARMACY_KEY, sm4_key=SM4_KEY, encrypt_body=True)
    sandbox = province(pharmacy.insurer_side(private_key=INSURER_KEY))
    client = protected_client(sandbox.url, signtype="SM2", sm2_private_key=PHARMACY_KEY, sm4_key=SM4_KEY,
                              encrypt_body=True, sm2_public_key="04" + sm2_public_key_of(INSURER_KEY))
    client.sign_in()
    assert person.parse_person(client.call("1101", PERSON_QUERY)).psn_name


@responses.activate
@pytest.mark.parametrize("output", [
    {ENC_FIELD: "not base64!"},
    {ENC_FIELD: ""},
])
def test_answer_that_does_not_decrypt_is_a_protocol_error(output):
    responses.post("http://gw.test" + GATEWAY_PATH, json={"infcode": 0, "output": output})
    client = protected_client("http://gw.test", sm4_key=SM4_KEY, encrypt_body=True)
    with pytest.raises(GatewayProtocolError) as err:
        client.call("2102", settle_body(), insuplc_admdvs="360102")
    assert err.value.outcome_unknown and SM4_KEY not in str(err.value) and SM4_KEY not in err.value.message_zh


@responses.activate
def test_answer_encrypted_under_another_key_is_a_protocol_error_not_a_crash():
    foreign = base64.b64encode(Sm4Cipher(OTHER_SM4_KEY).encrypt(b'{"setlinfo":{"setl_id":"S1"}}')).decode()
    responses.post("http://gw.test" + GATEWAY_PATH, json={"infcode": 0, "output": {ENC_FIELD: foreign}})
    client = protected_client("http://gw.test", sm4_key=SM4_KEY, encrypt_body=True)
    with pytest.raises(GatewayProtocolError) as err:
        client.call("2102", settle_body(), insuplc_admdvs="360102")
    assert "decrypt" in str(err.value) and "解密失败" in err.value.message_zh


# -- secrets ------------------------------------------------------------------------------------------------------
def test_key_files_are_read_and_their_keys_never_shown(tmp_path, province):
    (tmp_path / "sm2.key").write_text(PHARMACY_KEY + "\n")
    (tmp_path / "sm4.key").write_text(SM4_KEY + "\n")
    sandbox = province(SmCrypto(signtype="SM2", private_key=PHARMACY_KEY, sm4_key=SM4_KEY,
                                encrypt_body=True).insurer_side())
    client = protected_client(sandbox.url, signtype="SM2", sm2_private_key_file=str(tmp_path / "sm2.key"),
                              sm4_key_file=str(tmp_path / "sm4.key"), encrypt_body=True)
    assert client.sign_in()
    for text in (repr(client.settings), repr(client), repr(client.crypto), repr(client.crypto._sm4)):
        assert PHARMACY_KEY not in text and SM4_KEY not in text


def test_settings_repr_and_errors_never_contain_key_material():
    settings = replace(make_client("http://gw.test").settings, signtype="SM2", sm2_private_key=PHARMACY_KEY,
                       sm4_key=SM4_KEY, encrypt_body=True)
    assert PHARMACY_KEY not in repr(settings) and SM4_KEY not in repr(settings)
    with pytest.raises(ValueError) as err:
        GatewayClient(replace(settings, sm2_private_key="ff" * 32), MsgIdGenerator(PHARMACY))  # ≥ n: invalid
    assert "ff" * 32 not in str(err.value) and "sm2_private_key" in str(err.value)
    with pytest.raises(ValueError) as err:
        GatewayClient(replace(settings, sm2_private_key="", sm2_private_key_file="/nonexistent/k"),
                      MsgIdGenerator(PHARMACY))
    assert "sm2_private_key_file" in str(err.value)


def test_masked_config_hides_the_keys_given_through_the_environment():
    from plugin.config import load_settings
    settings = load_settings(environ={"RXLANE_NHSA__SIGNTYPE": "SM2", "RXLANE_NHSA__SM2_PRIVATE_KEY": PHARMACY_KEY,
                                      "RXLANE_NHSA__SM4_KEY": SM4_KEY, "RXLANE_NHSA__ENCRYPT_BODY": "true"})
    masked = json.dumps(settings.masked())
    assert settings.nhsa.sm4_key == SM4_KEY and settings.nhsa.encrypt_body is True
    assert PHARMACY_KEY not in masked and SM4_KEY not in masked and '"sm4_key": "***"' in masked
    assert PHARMACY_KEY not in repr(settings) and SM4_KEY not in repr(settings)


def test_all_digit_hex_key_from_the_environment_keeps_its_text():
    from plugin.config import load_settings
    digits = "12345678901234567890123456789012"  # TOML reads it as an integer
    assert load_settings(environ={"RXLANE_NHSA__SM4_KEY": digits}).nhsa.sm4_key == digits


def test_malformed_key_in_config_is_refused_without_echoing_it():
    from plugin.errors import InvalidInput
    from plugin.config import load_settings
    with pytest.raises(InvalidInput) as err:
        load_settings(environ={"RXLANE_NHSA__SM4_KEY": "secretsecretsecret"})
    assert "secretsecretsecret" not in str(err.value) and "sm4_key" in str(err.value)


def test_service_wires_the_settings_into_the_gateway(tmp_path, province):
    from plugin.config import load_settings
    from plugin.service import build_service
    sandbox = province(SmCrypto(signtype="SM3", sm4_key=SM4_KEY, encrypt_body=True).insurer_side())
    settings = load_settings(environ={"RXLANE_SERVER__DATA_DIR": f'"{tmp_path}"', "RXLANE_NHSA__SIGNTYPE": "SM3",
                                      "RXLANE_NHSA__SM4_KEY": SM4_KEY, "RXLANE_NHSA__ENCRYPT_BODY": "true"})
    service = build_service(settings, gateway_url=sandbox.url)
    try:
        client = service.upstream.client
        assert (client.crypto.signtype, client.crypto.encrypt_body) == ("SM3", True)
        assert client.sign_in()
    finally:
        service.close()
