"""The wire samples (tests/contract/wire, complete envelopes in the interface's shapes) against both sides:

- every request envelope matches the national profile's message spec and passes the strict sandbox's envelope and
  input validation (adapters/sandbox/intake.py) — so the sandbox refuses nothing a real client sends;
- every answer sample is read by the adapter's parsers (adapters/nhsa/*), including the GBK-encoded 2102;
- what the sandbox answers carries exactly the fields of the samples, node by node — no invented field.
"""
import copy
import json
from datetime import datetime
from pathlib import Path

import pytest
import requests

from adapters.nhsa import catalogue, person, prescriptions, settlement, signin
from adapters.nhsa.client import encode_body
from adapters.nhsa.envelope import parse_answer
from adapters.nhsa.profile import check_input, load_profile
from adapters.nhsa.reading import decode_body
from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.books import Books
from adapters.sandbox.gateway import GatewaySetup
from adapters.sandbox.intake import admit, logical_infno, validate
from adapters.sandbox.messages import Refusal
from tests.adapters.conftest import LIU, PHARMACY, ZHANG, make_client, settle_body

WIRE = Path(__file__).resolve().parent / "wire"
NATIONAL = load_profile("national")
REQUESTS = sorted(p for p in WIRE.glob("*.request*.json") if "infno" in json.loads(p.read_text(encoding="utf-8")))
#: transactions of the interface the sandbox does not serve (file transfer, catalogue files, delivery)
NOT_SERVED = {"1301", "7205"}


def load(name: str) -> dict:
    return json.loads((WIRE / name).read_text(encoding="utf-8"))


def books_for(envelope: dict) -> Books:
    """Books on the sample's day, holding the sample's sign-in."""
    when = datetime.strptime(envelope["inf_time"], "%Y-%m-%d %H:%M:%S")
    books = Books(resolve_policy("jiangxi"), clock=lambda: when)
    books.sign_ins.append({"sign_no": envelope["sign_no"], "fixmedins_code": envelope["fixmedins_code"],
                           "day": when.date(), "valid": True})
    return books


def test_the_samples_cover_every_transaction_the_sandbox_serves():
    import adapters.sandbox.center  # noqa: F401  (registers the handlers)
    from adapters.sandbox.messages import HANDLERS
    sampled = {json.loads(p.read_text(encoding="utf-8"))["infno"][:4] for p in REQUESTS}
    assert set(HANDLERS) - sampled <= {"5206", "1201"}, "a served transaction without a wire sample"


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_every_request_sample_passes_the_profile_and_the_strict_validation(path):
    envelope = json.loads(path.read_text(encoding="utf-8"))
    wire = envelope["infno"]
    spec = NATIONAL.message(wire)
    if spec is not None:
        assert check_input(spec, envelope["input"]) == []
    setup = GatewaySetup(NATIONAL)
    books = books_for(envelope)
    logical = logical_infno(NATIONAL, wire)
    if wire in NOT_SERVED:
        assert logical is None
        validate(copy.deepcopy(envelope), wire=wire, logical=wire, setup=setup, books=books)
        return
    raw = path.read_bytes()
    msg = admit(raw, path=NATIONAL.path(wire), headers={}, setup=setup, books=books)
    assert (msg.wire_infno, msg.infno, msg.msgid) == (wire, logical, envelope["msgid"])


def test_the_same_samples_are_refused_without_a_sign_in():
    envelope = load("2102.request.json")
    books = books_for(envelope)
    books.sign_ins.clear()
    with pytest.raises(Refusal) as err:
        validate(envelope, wire="2102", logical="2102", setup=GatewaySetup(NATIONAL), books=books)
    assert NATIONAL.sign_in_invalid(err.value.err_msg)


PARSERS = {
    "9001": lambda out: signin.parse_sign_in(out).sign_no,
    "1101": lambda out: person.parse_person(out).psn_no,
    "5301": lambda out: person.parse_filings(out),
    "5302": lambda out: person.parse_registrations(out)[0].fixmedins_code,
    "1312": lambda out: catalogue.parse_catalogue(out).rows[0].hilist_code,
    "1318": lambda out: catalogue.parse_price_ceilings(out).rows[0].hilist_pric_uplmt_amt,
    "2101": lambda out: settlement.parse_setlinfo(out).amounts["medfee_sumamt"],
    "2102": lambda out: settlement.parse_setlinfo(out).setl_id,
    "2103": lambda out: settlement.parse_setlinfo(out).amounts["psn_cash_pay"],
    "7201": lambda out: prescriptions.parse_qr_decode(out).epc_token,
    "7202": lambda out: prescriptions.parse_rx_list(out)[0].auth_rxno,
    "7203": lambda out: prescriptions.parse_rx(out).hi_rxno,
}
ANSWERS = sorted(p for p in WIRE.glob("*.answer*.json") if "infcode" in json.loads(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", ANSWERS, ids=lambda p: p.name)
def test_every_answer_sample_is_read_by_the_adapters_parsers(path):
    infno = path.name.split(".")[0]
    answer = parse_answer(json.loads(path.read_text(encoding="utf-8")), infno=infno)
    if answer.infcode != 0:
        assert answer.err_msg and answer.output == {}
        return
    parser = PARSERS.get(infno[:4])
    if parser is not None and answer.output:
        assert parser(answer.output) is not None


def test_the_gbk_settlement_answer_decodes_with_a_gbk_content_type():
    data = (WIRE / "2102.answer.gbk.bin").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    answer = parse_answer(json.loads(decode_body(data, "application/json;charset=GBK")), infno="2102")
    assert answer.raw == load("2102.answer.gbk.json")
    assert settlement.parse_setlinfo(answer.output).setl_id == load("2102.answer.gbk.json")["output"]["setlinfo"][
        "setl_id"]


# -- the sandbox answers with the samples' fields and no others ---------------------------------------------------
def _differences(ours, theirs, where="output"):
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = [] if set(ours) == set(theirs) else [
            f"{where}: sandbox-only {sorted(set(ours) - set(theirs))}, sample-only {sorted(set(theirs) - set(ours))}"]
        return found + [d for k in set(ours) & set(theirs) for d in _differences(ours[k], theirs[k], f"{where}.{k}")]
    if isinstance(ours, list) and isinstance(theirs, list) and ours and theirs:
        return _differences(ours[0], theirs[0], where + "[]")
    return []


def _raw(sandbox, client, infno, inp, **kw):
    env = client.prepare(infno, inp, **kw)
    resp = requests.post(sandbox.url + client.profile.path(infno), data=encode_body(env.body), timeout=5,
                         headers={"Content-Type": "application/json"})
    return env, resp.json()


def test_sandbox_answers_have_exactly_the_fields_of_the_wire_samples(sandbox):
    client = make_client(sandbox.url)
    answers = {}
    _, answers["9001.answer.json"] = _raw(sandbox, client, "9001", signin.sign_in_input("YS0001", "00-1A", "10.0.0.1"))
    client.sign_in()
    calls = {
        "1101.answer.json": ("1101", person.person_info_input("02", ZHANG["certno"]), {}),
        "5301.answer.json": ("5301", person.filing_query_input(ZHANG["psn_no"]), {"insuplc_admdvs": "360102"}),
        "5302.answer.json": ("5302", person.registrations_input(ZHANG["psn_no"]), {"insuplc_admdvs": "360102"}),
        "1312.answer.json": ("1312", catalogue.catalogue_query_input(updt_time="2000-01-01", page_num=1,
                                                                     page_size=1), {}),
        "1318.answer.json": ("1318", catalogue.price_ceiling_input(updt_time="2000-01-01", page_num=1,
                                                                   page_size=1), {}),
        "2101.answer.json": ("2101", settle_body(), {"insuplc_admdvs": "360102"}),
        "7201.answer.json": ("7201", prescriptions.qr_decode_input(
            "HX36011100301000000001", app_chnl_id="P", app_chnl_user_id="U", dev_info="D", ip_info="I", opter="O",
            opter_name="N", optins=PHARMACY), {}),
        "7202.answer.json": ("7202", prescriptions.rx_query_input(
            mdtrt_cert_type="02", mdtrt_cert_no=LIU["certno"], card_sn="", insuplc_admdvs="360102", ip_info="I",
            opter="O", opter_name="N", optins=PHARMACY), {}),
    }
    for name, (infno, inp, kw) in calls.items():
        _, answers[name] = _raw(sandbox, client, infno, inp, **kw)
    _, answers["7203.answer.json"] = _raw(sandbox, client, "7203", prescriptions.rx_download_input(
        insuplc_admdvs="360102", auth_rxno=answers["7202.answer.json"]["output"]["auth_rxno"]))
    settled, answers["2102.answer.json"] = _raw(sandbox, client, "2102", settle_body(invono="1"),
                                                insuplc_admdvs="360102")
    info = answers["2102.answer.json"]["output"]["setlinfo"]
    _, answers["2103.answer.json"] = _raw(sandbox, client, "2103", settlement.cancel_input(
        info["setl_id"], info["mdtrt_id"], LIU["psn_no"]), insuplc_admdvs="360102")
    _, answers["2601.answer.refused.json"] = _raw(sandbox, client, "2601", settlement.reversal_input(
        LIU["psn_no"], settled.msgid, "2102"), insuplc_admdvs="360102")
    _, answers["1101.answer.refused.json"] = _raw(sandbox, client, "1101", person.person_info_input("02", "1"))
    _, answers["9002.answer.json"] = _raw(sandbox, client, "9002", signin.sign_out_input(client.sign_no, "YS0001"))
    problems = [d for name, ours in answers.items() for d in _differences(ours, load(name), name)]
    assert problems == []


def test_the_e_voucher_double_answers_the_samples_fields(sandbox):
    request = load("evoucher.http.request.json")
    answer = requests.post(sandbox.url + NATIONAL.evoucher.path, json={**request, "ecQrCode": ZHANG["ecard_qr"]},
                           timeout=5).json()
    assert _differences(answer, load("evoucher.http.answer.json"), "evoucher") == []
    refused = requests.post(sandbox.url + NATIONAL.evoucher.path, json=request, timeout=5).json()
    assert refused == load("evoucher.http.answer.refused.json")
