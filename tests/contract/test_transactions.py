"""One row per transaction the sandbox serves, each naming the docs/gateway.md section it pins: the adapter's builder
sends it, the strict sandbox accepts it, and the answer has the node the national profile's ``[answers]`` table
says rxlane reads, with the facts that section promises. (The client lower-cases answer keys: ``pagenum``.)"""
from decimal import Decimal

import pytest

from adapters.nhsa import catalogue, person, prescriptions, settlement, signin
from adapters.nhsa.profile import load_profile
from tests.adapters.conftest import LIU, PHARMACY, ZHANG, make_client, settle_body

NATIONAL = load_profile("national")
TERMINAL = {"ip_info": "10.36.1.23", "opter": "YS0001", "opter_name": "李志强", "optins": PHARMACY}


def _listing(client):
    return client.call("7202", prescriptions.rx_query_input(mdtrt_cert_type="02", mdtrt_cert_no=LIU["certno"],
                                                             card_sn="", insuplc_admdvs="360102", **TERMINAL))


def _settled(client):
    return settlement.parse_setlinfo(client.call("2102", settle_body(invono="INV-1"), insuplc_admdvs="360102"))


# (section, infno, call(client) -> output, check(output))
CASES = [
    ("docs/gateway.md 9002", "9002",
     lambda c: c.call("9002", signin.sign_out_input(c.sign_no, "YS0001")),
     lambda out: out["signoutoutb"]["sign_time"]),
    ("docs/gateway.md 1101", "1101",
     lambda c: c.call("1101", person.person_info_input("02", ZHANG["certno"])),
     lambda out: person.parse_person(out).insurance.insutype == "310" and out["idetinfo"] == []),
    ("docs/gateway.md 5301", "5301",
     lambda c: c.call("5301", person.filing_query_input(ZHANG["psn_no"]), insuplc_admdvs="360102"),
     lambda out: {f.opsp_dise_code for f in person.parse_filings(out)} == {"M00500", "M07101"}),
    ("docs/gateway.md 5302", "5302",
     lambda c: c.call("5302", person.registrations_input(ZHANG["psn_no"]), insuplc_admdvs="360102"),
     lambda out: len(person.parse_registrations(out)) == 2),
    ("docs/gateway.md 5206", "5206",
     lambda c: c.call("5206", person.accumulations_input(LIU["psn_no"]), insuplc_admdvs="360102"),
     lambda out: {a.cum_type_code for a in person.parse_accumulations(out)} == {"C0101", "C0201", "C0301",
                                                                                "C0401"}),
    ("docs/gateway.md 1312", "1312",
     lambda c: c.call("1312", catalogue.catalogue_query_input(updt_time="2000-01-01", page_num=1, page_size=3)),
     lambda out: (out["pagenum"], out["pages"], out["recordcounts"], len(out["data"])) == (1, 2, 6, 3)),
    ("docs/gateway.md 1318", "1318",
     lambda c: c.call("1318", catalogue.price_ceiling_input(updt_time="2000-01-01", page_num=1, page_size=10,
                                                            hilist_code="XL01EBA341A001010100701")),
     lambda out: catalogue.parse_price_ceilings(out).rows[0].hilist_pric_uplmt_amt == Decimal("4837")),
    ("docs/gateway.md 1201", "1201",
     lambda c: c.call("1201", catalogue.institution_query_input("H36011100301")),
     # the national 医院等级 code (02 三级甲等), which the profile's [hosp_lv] turns into the policy's level 3
     lambda out: [(i.fixmedins_code, i.hosp_lv, NATIONAL.hosp_lv[i.hosp_lv])
                  for i in catalogue.parse_institutions(out)] == [("H36011100301", "02", "3")]),
    ("docs/gateway.md 2101", "2101",
     lambda c: c.call("2101", settle_body(), insuplc_admdvs="360102"),
     lambda out: out["setlinfo"]["setl_id"] is None and out["detlcutinfo"][0]["feedetl_sn"] == "1"),
    ("docs/gateway.md 2102", "2102",
     lambda c: c.call("2102", settle_body(invono="INV-1"), insuplc_admdvs="360102"),
     lambda out: out["setlinfo"]["setl_id"] and out["setlinfo"]["medins_setl_id"]
     and settlement.parse_setlinfo(out).amounts["psn_cash_pay"] == Decimal("117.44")),
    ("docs/gateway.md 2103", "2103",
     lambda c: (lambda s: c.call("2103", settlement.cancel_input(s.setl_id, s.mdtrt_id, LIU["psn_no"]),
                                 insuplc_admdvs="360102"))(_settled(c)),
     lambda out: [out["setlinfo"][k] for k in ("cash_payamt", "psn_pay")] == [Decimal("-117.44"), Decimal("-167.44")]
     and settlement.parse_setlinfo(out).amounts["psn_cash_pay"] == Decimal("-117.44")),
    ("docs/gateway.md 2601", "2601",
     lambda c: (lambda env: (c.send(env), c.call("2601", settlement.reversal_input(LIU["psn_no"], env.msgid, "2102"),
                                                 insuplc_admdvs="360102"))[1])(
         c.prepare("2102", settle_body(), insuplc_admdvs="360102")),
     lambda out: out == {}),
    ("docs/gateway.md 7201", "7201",
     lambda c: c.call("7201", prescriptions.qr_decode_input("HX36010200101000000009", app_chnl_id="POS",
                                                             app_chnl_user_id="YS0001", dev_info="POS-01",
                                                             **TERMINAL)),
     lambda out: prescriptions.parse_qr_decode(out).certno == LIU["certno"]),
    ("docs/gateway.md 7202", "7202", _listing,
     lambda out: prescriptions.parse_rx_list(out)[0].fixmedins_code == "H36010200101"),
    ("docs/gateway.md 7203", "7203",
     lambda c: c.call("7203", prescriptions.rx_download_input(
         insuplc_admdvs="360102", auth_rxno=prescriptions.parse_rx_list(_listing(c))[0].auth_rxno)),
     lambda out: prescriptions.parse_rx(out).prsc_dr_name == "吴丽华"),
]


@pytest.mark.parametrize("section,infno,call,check", CASES, ids=[c[0] for c in CASES])
def test_transaction_pins_its_section(sandbox, section, infno, call, check):
    client = make_client(sandbox.url)
    client.sign_in()
    out = call(client)
    node = NATIONAL.answers.get(infno)
    if node and not (infno == "7202" and "auth_rxno" in out):   # one prescription is answered as output itself
        assert node in out, f"{section}: rxlane reads output.{node}"
    assert check(out), section
    entries = [e for e in sandbox.messages.entries() if e["infno"] == infno]
    assert entries and entries[-1]["verdict"] == "accepted"


def test_sign_in_pins_docs_gateway_9001(sandbox):
    client = make_client(sandbox.url)
    out = client.call("9001", signin.sign_in_input("YS0001", "00-1A-2B-3C-4D-5E", "10.36.1.23"))
    assert signin.parse_sign_in(out).sign_no and out["signinoutb"]["sign_time"]
    assert sandbox.books.sign_ins[-1]["mac"] == "00-1A-2B-3C-4D-5E"
