"""E-prescription circulation at the sandbox (docs/gateway.md 7201–7203): listed by credential with a one-time
authorisation number, downloaded once by it (or by a token), never by hi_rxno; the download answers the four
sibling nodes with the prescriber as a name and the only physician code in the diagnosis."""
import pytest

from adapters.nhsa import prescriptions as rx
from adapters.nhsa.errors import GatewayRefused
from adapters.nhsa.profile import load_profile
from tests.adapters.conftest import LIU, PHARMACY, ZHANG

NATIONAL = load_profile("national")


def listing(gateway, who=ZHANG, admdvs="360102", cert_type="02", cert_no=None):
    return gateway.call("7202", rx.rx_query_input(
        mdtrt_cert_type=cert_type, mdtrt_cert_no=cert_no or who["certno"], card_sn="", insuplc_admdvs=admdvs,
        ip_info="10.36.1.23", opter="YS0001", opter_name="李志强", optins=PHARMACY))


def download(gateway, admdvs="360102", **key):
    return gateway.call("7203", rx.rx_download_input(insuplc_admdvs=admdvs, **key))


def refused(call):
    with pytest.raises(GatewayRefused) as err:
        call()
    return err.value.err_msg


def test_listing_shows_only_prescriptions_that_can_still_be_dispensed_each_with_a_fresh_auth_rxno(gateway):
    out = listing(gateway)
    rows = rx.parse_rx_list(out)
    assert "data" in out and len(rows) == 2   # several: under output.data (the dispensed one is not listed)
    assert [r.diag_name for r in rows] == ["非小细胞肺癌", "银屑病"]
    again = rx.parse_rx_list(listing(gateway))
    assert {r.auth_rxno for r in rows}.isdisjoint(r.auth_rxno for r in again)


def test_one_prescription_is_answered_as_the_output_itself(gateway):
    out = listing(gateway, LIU)
    assert "auth_rxno" in out and [r.fixmedins_code for r in rx.parse_rx_list(out)] == ["H36010200101"]


def test_download_by_auth_rxno_answers_the_four_sibling_nodes(gateway):
    auth = rx.parse_rx_list(listing(gateway, LIU))[0].auth_rxno
    out = download(gateway, auth_rxno=auth)
    assert set(out) == {"data", "rxdrugdetail", "mdtrtinfo", "diseinfo"}
    got = rx.parse_rx(out)
    assert (got.hi_rxno, got.psn_no, got.prsc_dr_name) == ("HX36010200101000000009", LIU["psn_no"], "吴丽华")
    assert got.dise_dor_no == "D360102001002" and got.dise_codg == "M07101"
    assert "prsc_dr_code" not in out["mdtrtinfo"] and out["rxdrugdetail"][0]["dise_codg"] == "M07101"
    assert [(line.med_list_codg, str(line.drug_cnt)) for line in got.lines] == [("XL04ACS251B002010100702", "1")]


def test_an_auth_rxno_downloads_once(gateway):
    auth = rx.parse_rx_list(listing(gateway, LIU))[0].auth_rxno
    download(gateway, auth_rxno=auth)
    assert refused(lambda: download(gateway, auth_rxno=auth)) == "处方授权编号已使用或已失效"


def test_a_prescription_is_never_downloaded_by_hi_rxno(gateway):
    env = gateway.prepare("7203", rx.rx_download_input(insuplc_admdvs="360102", auth_rxno="x"))
    env.body["input"] = {"data": {"hi_rxno": "HX36010200101000000009", "insuplc_admdvs": "360102"}}
    assert "auth_rxno" in refused(lambda: gateway.send(env))


def test_dispensed_and_revoked_prescriptions_are_refused_with_texts_the_profile_maps(gateway):
    dispensed = refused(lambda: download(gateway, auth_rxno="AUTH36010200000000000003"))
    revoked = refused(lambda: download(gateway, admdvs="360104", auth_rxno="AUTH36010200000000000005"))
    assert NATIONAL.refusal_reason(dispensed) == "RX_ALREADY_DISPENSED"
    assert NATIONAL.refusal_reason(revoked) == "RX_REVOKED"


def test_an_expired_prescription_downloads_and_shows_its_end(sandbox, gateway):
    got = rx.parse_rx(download(gateway, auth_rxno="AUTH36010200000000000011"))
    assert got.hi_rxno == "HX36010200101000000011"
    assert got.valid_end_time[:10] < sandbox.books.today().isoformat()


def test_the_insured_place_must_be_the_patients(gateway):
    auth = rx.parse_rx_list(listing(gateway, LIU))[0].auth_rxno
    assert "insuplc_admdvs" in refused(lambda: download(gateway, admdvs="110000", auth_rxno=auth))
    assert "insuplc_admdvs" in refused(lambda: listing(gateway, LIU, admdvs="110000"))


def test_qr_decode_gives_an_epc_token_that_downloads_the_prescription(gateway):
    token = rx.parse_qr_decode(gateway.call("7201", rx.qr_decode_input(
        "HX36011100301000000001", app_chnl_id="POS", app_chnl_user_id="YS0001", dev_info="POS-01",
        ip_info="10.36.1.23", opter="YS0001", opter_name="李志强", optins=PHARMACY)))
    assert token.name == "张伟" and token.certno == ZHANG["certno"] and token.insuplc_admdvs == "360102"
    assert rx.parse_rx(download(gateway, epc_token=token.epc_token)).hi_rxno == "HX36011100301000000001"


def test_unknown_qr_and_token_are_refused(gateway):
    assert "epc_qrcd" in refused(lambda: gateway.call("7201", rx.qr_decode_input(
        "NOPE", app_chnl_id="P", app_chnl_user_id="U", dev_info="D", ip_info="I", opter="O", opter_name="N",
        optins=PHARMACY)))
    assert "epc_token" in refused(lambda: download(gateway, epc_token="EPC-unknown"))
