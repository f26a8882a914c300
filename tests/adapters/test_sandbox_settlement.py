"""2101/2102/2103/2601 at the sandbox insurer: the split is plugin.policy.split's (docs/policies.md §3), a settlement
commits once per msgid, a cancel restores the accumulators, and a reversal undoes a settlement whose answer was
lost (docs/architecture.md)."""
from decimal import Decimal

import pytest

from adapters.nhsa import transactions as tx
from adapters.nhsa.errors import GatewayConnectionLost, GatewayProtocolError, GatewayRefused
from adapters.sandbox.faults import Fault
from plugin.policy import QuoteLine, QuoteRequest, Ytd, load_region, split
from tests.adapters.conftest import LIU, OSIMERTINIB, RX_LIU, RX_ZHANG_OSI, RX_ZHANG_WRONG_DR, SECUKINUMAB, ZHANG, settle_body


def settle(gateway, body=None, infno="2102", admdvs="360102", msgid=None):
    env = gateway.prepare(infno, body or settle_body(), insuplc_admdvs=admdvs, msgid=msgid)
    return env, tx.parse_setlinfo(gateway.send(env).output)


def accumulators(sandbox, psn_no=LIU["psn_no"]):
    return sandbox.books.ledger()["accumulators"][psn_no]


def test_presettlement_split_is_the_policy_engines_split_jiangxi_class_b(gateway):
    _, info = settle(gateway, infno="2101")
    expected = split(load_region("jiangxi"), QuoteRequest(
        insutype="310", hosp_lv="3", acct_used=True, balc=Decimal("50.00"),
        ytd=Ytd(Decimal("0"), Decimal("2400.00"), Decimal("300.00"), Decimal("0")),
        lines=[QuoteLine(SECUKINUMAB, "B", Decimal("598.00"), Decimal("1"), Decimal("598.00"))])).to_dict()
    assert info.split() == {k: v for k, v in expected.items() if k != "lines"}
    # 赣医保发〔2022〕2号 §二(三)3: class B pre-pays 10%; the account (50.00) is used first
    assert (info.amounts["preselfpay_amt"], info.amounts["acct_pay"], info.amounts["balc"]) == (Decimal("59.80"), Decimal("50.00"), Decimal("0.00"))
    assert info.setl_id == "" and info.lines[0]["inscp_scp_amt"] == Decimal("538.20")


def test_presettlement_commits_nothing(sandbox, gateway):
    before = accumulators(sandbox)
    settle(gateway, infno="2101")
    assert accumulators(sandbox) == before and sandbox.books.ledger()["settlements"] == []


def test_settlement_commits_split_and_accumulators(sandbox, gateway):
    env, info = settle(gateway)
    ledger = sandbox.books.ledger()
    [row] = ledger["settlements"]
    assert row["setl_id"] == info.setl_id and row["msgid"] == env.msgid and row["state"] == "settled"
    assert row["psn_cash_pay"] == "117.44" and row["hi_rxno"] == RX_LIU and row["institution_code"] == "H36010200101"
    acc = accumulators(sandbox)
    assert acc["fund_paid"] == "2830.56" and acc["balc"] == "0.00"
    assert acc["selfpay"] == "407.64"  # + in-scope personal share 538.20 − 430.56
    # 2102 does not dispense the prescription: only 7206 does
    assert {p["hi_rxno"]: p["status"] for p in ledger["prescriptions"]}[RX_LIU] == "valid"


def test_replayed_settlement_msgid_answers_the_same_settlement_once(sandbox, gateway):
    env, first = settle(gateway)
    again = tx.parse_setlinfo(gateway.send(env).output)
    assert again.setl_id == first.setl_id and again.split() == first.split()
    assert len(sandbox.books.ledger()["settlements"]) == 1
    assert accumulators(sandbox)["fund_paid"] == "2830.56"


def test_cancel_restores_accumulators_and_answers_negated_amounts(sandbox, gateway):
    before = accumulators(sandbox)
    _, info = settle(gateway)
    out = gateway.call("2103", tx.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]), insuplc_admdvs="360102")
    reversing = tx.parse_setlinfo(out)
    assert reversing.amounts["medfee_sumamt"] == -info.amounts["medfee_sumamt"] and reversing.amounts["hifp_pay"] == -info.amounts["hifp_pay"]
    assert reversing.amounts["acct_pay"] == Decimal("-50.00") and reversing.amounts["balc"] == Decimal("50.00")
    assert accumulators(sandbox) == before
    assert sandbox.books.ledger()["settlements"][0]["state"] == "cancelled"
    with pytest.raises(GatewayRefused):
        gateway.call("2103", tx.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]), insuplc_admdvs="360102")


def test_reversal_of_a_settlement_whose_answer_was_dropped_undoes_it(sandbox, gateway):
    before = accumulators(sandbox)
    sandbox.faults.add(Fault(infno="2102", mode="drop_response", times=1))
    env = gateway.prepare("2102", settle_body(), insuplc_admdvs="360102")
    with pytest.raises((GatewayConnectionLost, GatewayProtocolError)):
        gateway.send(env)
    assert sandbox.books.ledger()["settlements"][0]["state"] == "settled"  # money moved
    rev = tx.parse_reversal(gateway.call("2601", tx.reversal_input(LIU["psn_no"], env.msgid), insuplc_admdvs="360102"))
    assert rev.found and rev.setl_id
    assert sandbox.books.ledger()["settlements"][0]["state"] == "reversed"
    assert accumulators(sandbox) == before
    again = tx.parse_reversal(gateway.call("2601", tx.reversal_input(LIU["psn_no"], env.msgid),
                                           insuplc_admdvs="360102"))
    assert again.found and accumulators(sandbox) == before  # idempotent
    with pytest.raises(GatewayRefused):  # the reversed message cannot come back to life
        gateway.send(env)


def test_reversal_of_a_message_that_never_arrived_is_safe_and_blocks_it_later(sandbox, gateway):
    env = gateway.prepare("2102", settle_body(), insuplc_admdvs="360102")  # journaled, never sent
    rev = tx.parse_reversal(gateway.call("2601", tx.reversal_input(LIU["psn_no"], env.msgid), insuplc_admdvs="360102"))
    assert not rev.found and "未找到" in rev.dscr
    with pytest.raises(GatewayRefused) as err:
        gateway.send(env)
    assert "冲正" in err.value.err_msg
    assert sandbox.books.ledger()["settlements"] == []


def test_reversal_of_a_cancel_reinstates_the_settlement(sandbox, gateway):
    _, info = settle(gateway)
    after_settle = accumulators(sandbox)
    cancel = gateway.prepare("2103", tx.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]),
                             insuplc_admdvs="360102")
    gateway.send(cancel)
    gateway.call("2601", tx.reversal_input(LIU["psn_no"], cancel.msgid, "2103"), insuplc_admdvs="360102")
    assert sandbox.books.ledger()["settlements"][0]["state"] == "settled"
    assert accumulators(sandbox) == after_settle


def test_ineligible_line_not_flagged_refuses_the_message_naming_drug_and_reason(sandbox, gateway):
    body = settle_body(person=ZHANG, qty="2", rxno=RX_ZHANG_WRONG_DR)
    with pytest.raises(GatewayRefused) as err:
        settle(gateway, body)
    # 渝医保发〔2021〕12号 §四(四): 其余医师开具的相关药品处方不予报销
    assert err.value.err_msg.startswith(f"药品{SECUKINUMAB}：开方医师不是")
    assert sandbox.books.ledger()["settlements"] == []


def test_flagged_ineligible_line_settles_wholly_self_paid(gateway):
    body = settle_body(person=ZHANG, qty="2", rxno=RX_ZHANG_WRONG_DR, fulamt_ownpay_flag=True)
    _, info = settle(gateway, body)
    assert info.amounts["fulamt_ownpay_amt"] == Decimal("1196.00") and info.amounts["fund_pay_sumamt"] == Decimal("0.00")
    assert info.lines[0]["reasons"] == ["PHYSICIAN_NOT_RESPONSIBLE"] and info.lines[0]["eligible"] is False


def test_price_above_payment_standard_is_refused_under_reject(gateway):
    body = settle_body(person=ZHANG, code=OSIMERTINIB, price="4900.00", rxno=RX_ZHANG_OSI, fulamt_ownpay_flag=True)
    with pytest.raises(GatewayRefused) as err:
        settle(gateway, body)
    assert OSIMERTINIB in err.value.err_msg and "支付标准" in err.value.err_msg


def test_class_a_drug_pays_no_prepay_jiangxi_2_3_3(gateway):
    _, info = settle(gateway, settle_body(person=ZHANG, code=OSIMERTINIB, price="4837.00", rxno=RX_ZHANG_OSI))
    assert info.amounts["preselfpay_amt"] == Decimal("0.00") and info.amounts["hifp_pay"] == Decimal("3869.60")


def test_total_that_does_not_match_the_lines_is_refused(gateway):
    body = settle_body()
    body["data"]["medfee_sumamt"] = "1.00"
    with pytest.raises(GatewayRefused) as err:
        settle(gateway, body)
    assert "medfee_sumamt" in err.value.err_msg


def test_policy_change_at_the_sandbox_changes_its_answers(sandbox, gateway):
    mapping = sandbox.books.policy.to_mapping()
    mapping["ratio"]["310"] = "0.50"
    from plugin.policy import policy_from_mapping
    sandbox.books.policy = policy_from_mapping(mapping)
    _, info = settle(gateway, infno="2101")
    assert info.amounts["hifp_pay"] == Decimal("269.10")
