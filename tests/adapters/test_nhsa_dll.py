"""The gateway through a front-end library (adapters/nhsa/dll.py): the same envelope via INIT + BUSINESS_HANDLE in the
isolated worker. The front end is a compiled stand-in that forwards to the sandbox insurer over its own sockets,
in GBK as real front ends take it; what can go wrong maps onto the gateway error tree, and whether money may have
moved (a crash or hang after sending) stays explicit."""
import pytest

from adapters.nhsa import person, settlement
from adapters.nhsa.client import GatewayClient, GatewaySettings
from adapters.nhsa.dll import (DllTransport, FrontEndBadAnswer, FrontEndCrashed, FrontEndSystemError, FrontEndTimeout,
                               FrontEndUnavailable)
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.errors import GatewayRefused
from tests.adapters.conftest import LIU, PHARMACY, ZHANG, settle_body
from tests.standins import FrontEnd

NOWHERE = "http://127.0.0.1:9"      # the HTTP path is never taken: any use of it would fail


def client_through(path, timeout_s: float = 5.0, **kw) -> GatewayClient:
    settings = GatewaySettings(url=NOWHERE, fixmedins_code=PHARMACY, fixmedins_name="示例大药房（八一店）",
                               mdtrtarea_admvs="360102", timeout_s=timeout_s, opter_name="李药师")
    return GatewayClient(settings, MsgIdGenerator(PHARMACY), transport=DllTransport(str(path), timeout_s=timeout_s,
                                                                                     **kw))


@pytest.fixture
def gateway(front_end):
    client = client_through(front_end.path)
    yield client
    client.transport.close()


def test_messages_go_through_init_once_then_business_handle_and_reach_the_insurer(gateway, front_end, sandbox):
    assert gateway.sign_in()
    who = person.parse_person(gateway.call("1101", person.person_info_input("02", ZHANG["certno"]),
                                          insuplc_admdvs="360102"))
    assert who.psn_no == ZHANG["psn_no"] and who.psn_name == "张伟"     # GBK both ways, Chinese intact
    assert front_end.calls() == ["INIT", "BUSINESS_HANDLE 9001", "BUSINESS_HANDLE 1101"]


def test_a_settlement_settles_through_the_front_end(gateway, sandbox):
    gateway.sign_in()
    info = settlement.parse_setlinfo(gateway.call("2102", settle_body(), insuplc_admdvs="360102"))
    assert info.setl_id and sandbox.books.ledger()["settlements"][0]["state"] == "settled"


def test_a_crash_after_sending_2102_is_an_unknown_outcome_resolved_by_2601_through_a_new_worker(
        gateway, front_end, sandbox):
    gateway.sign_in()
    front_end.set(mode="crash", fault_infno="2102", when="after")
    env = gateway.prepare("2102", settle_body(), insuplc_admdvs="360102")
    with pytest.raises(FrontEndCrashed) as caught:
        gateway.send(env)
    assert caught.value.outcome_unknown and caught.value.msgid == env.msgid
    assert sandbox.books.ledger()["settlements"][0]["state"] == "settled"        # money moved
    reverse = settlement.reversal_input(LIU["psn_no"], env.msgid, "2102")
    assert gateway.call("2601", reverse, insuplc_admdvs="360102") == {}      # a reversal answers no output
    assert sandbox.books.ledger()["settlements"][0]["state"] == "reversed"
    assert front_end.calls().count("INIT") == 2            # the restarted worker was initialised again
    assert front_end.calls().count("BUSINESS_HANDLE 2102") == 1


def test_a_hang_is_a_timeout_with_an_unknown_outcome_and_the_next_message_works(front_end, sandbox):
    gateway = client_through(front_end.path, timeout_s=1.0)
    try:
        gateway.sign_in()
        front_end.set(mode="hang", fault_infno="2102", when="after")
        with pytest.raises(FrontEndTimeout) as caught:
            gateway.call("2102", settle_body(), insuplc_admdvs="360102")
        assert caught.value.outcome_unknown
        assert person.parse_person(gateway.call("1101", person.person_info_input("02", LIU["certno"]),
                                            insuplc_admdvs="360102")).psn_no == LIU["psn_no"]
    finally:
        gateway.transport.close()


def test_a_crash_before_anything_was_sent_is_still_unknown_to_rxlane(gateway, front_end, sandbox):
    # rxlane cannot see inside the library: a crash during BUSINESS_HANDLE is unknown whenever it happened
    gateway.sign_in()
    front_end.set(mode="crash", fault_infno="2102", when="before")
    with pytest.raises(FrontEndCrashed) as caught:
        gateway.call("2102", settle_body(), insuplc_admdvs="360102")
    assert caught.value.outcome_unknown and sandbox.books.ledger()["settlements"] == []


def test_minus_2_with_a_message_is_the_insurers_refusal(gateway, front_end):
    gateway.sign_in()
    front_end.set(mode="refuse", fault_infno="2102")
    with pytest.raises(GatewayRefused) as caught:
        gateway.call("2102", settle_body(), insuplc_admdvs="360102")
    assert (caught.value.infcode, caught.value.err_msg) == (-2, "参保人医保卡密码校验失败，请重新输入")
    assert not caught.value.outcome_unknown and "密码校验失败" in caught.value.message_zh


def test_minus_2_with_the_insurers_refusing_envelope_is_that_refusal(gateway, front_end):
    gateway.sign_in()
    front_end.set(mode="refuse_envelope", fault_infno="1101")
    with pytest.raises(GatewayRefused) as caught:
        gateway.call("1101", person.person_info_input("02", "110101199003074514"), insuplc_admdvs="360102")
    assert caught.value.infcode == -1 and caught.value.err_msg


def test_minus_2_with_a_successful_envelope_is_not_trusted(gateway, front_end):
    front_end.set(mode="refuse_envelope", fault_infno="9001")
    with pytest.raises(FrontEndBadAnswer) as caught:
        gateway.sign_in()
    assert caught.value.outcome_unknown


def test_minus_1_is_a_system_error_with_an_unknown_outcome(gateway, front_end):
    front_end.set(mode="syserr")
    with pytest.raises(FrontEndSystemError) as caught:
        gateway.sign_in()
    assert caught.value.outcome_unknown


@pytest.mark.parametrize("mode", ["overlong", "notgbk"])
def test_an_answer_longer_than_the_buffer_or_not_gbk_is_unreadable_and_unknown(gateway, front_end, mode):
    front_end.set(mode=mode)
    with pytest.raises(FrontEndBadAnswer) as caught:
        gateway.sign_in()
    assert caught.value.outcome_unknown


def test_init_failing_is_unreachable_nothing_sent_with_the_front_ends_words(gateway, front_end):
    front_end.set(init="fail")
    with pytest.raises(FrontEndUnavailable) as caught:
        gateway.sign_in()
    assert not caught.value.outcome_unknown and "前置机初始化失败" in caught.value.message_zh
    assert front_end.calls() == ["INIT"]
    front_end.set(init="ok")
    assert gateway.sign_in()


@pytest.mark.parametrize("init", ["hang", "crash"])
def test_init_hanging_or_crashing_is_unreachable_nothing_sent(front_end, init, monkeypatch):
    monkeypatch.setattr("adapters.nhsa.dll.INIT_TIMEOUT_S", 0.5)
    gateway = client_through(front_end.path)
    front_end.set(init=init)
    try:
        with pytest.raises(FrontEndUnavailable):
            gateway.sign_in()
        assert "BUSINESS_HANDLE 9001" not in front_end.calls()
    finally:
        gateway.transport.close()


def test_a_missing_or_wrong_library_is_unreachable_nothing_sent(standins, tmp_path):
    for path, words in ((tmp_path / "SiInterface_hsf.dll", "找不到动态库"),
                        (standins.copy("unrelated", tmp_path / "other"), "缺少所需的接口函数")):
        gateway = client_through(path)
        with pytest.raises(FrontEndUnavailable) as caught:
            gateway.sign_in()
        assert not caught.value.outcome_unknown and words in caught.value.message_zh


def test_init_args_are_passed_in_the_front_ends_code_page(standins, tmp_path, sandbox):
    fe = FrontEnd(standins.copy("frontend_initargs", tmp_path / "ybjk"), sandbox.url)
    gateway = client_through(fe.path, init_args='{"ip":"10.36.0.1","机构":"示例大药房"}')
    try:
        assert gateway.sign_in()
        assert (fe.folder / "init_args.txt").read_bytes() == '{"ip":"10.36.0.1","机构":"示例大药房"}'.encode("gbk")
    finally:
        gateway.transport.close()


def test_an_envelope_the_code_page_cannot_hold_is_refused_before_sending(front_end):
    gateway = client_through(front_end.path, encoding="gbk")
    try:
        gateway.sign_in()
        with pytest.raises(FrontEndUnavailable) as caught:
            gateway.call("1101", person.person_info_input("03", "A36010201", psn_name="𠮷田"), insuplc_admdvs="360102")
        assert not caught.value.outcome_unknown
        assert "BUSINESS_HANDLE 1101" not in front_end.calls()
    finally:
        gateway.transport.close()
