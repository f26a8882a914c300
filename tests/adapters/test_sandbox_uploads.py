"""3505/3506 traceability uploads (one code sold once, docs/gateway.md "Drug traceability codes"; docs/policies.md §6),
7201–7206 prescription circulation, and 3201/3202 reconciliation at the sandbox."""
from datetime import date

import pytest

from adapters.nhsa import transactions as tx
from adapters.nhsa.errors import GatewayRefused
from tests.adapters.conftest import LIU, RX_LIU, SECUKINUMAB, settle_body

CODE = "86907020000000000001"


def sale_line(code=CODE, trdn="0", setl_id="S1", **extra):
    return {"med_list_codg": SECUKINUMAB, "fixmedins_hilist_id": SECUKINUMAB, "fixmedins_bchno": "B1",
            "setl_id": setl_id, "psn_no": LIU["psn_no"], "rx_flag": "1", "trdn_flag": trdn, "sel_retn_cnt": 1,
            "drugtracinfo": [{"drug_trac_codg": code}], **extra}


def upload(gateway, *lines, infno="3505"):
    return gateway.call(infno, tx.sale_upload_input(lines))


def test_sale_upload_records_codes(sandbox, gateway):
    env = gateway.prepare("3505", tx.sale_upload_input([sale_line()]))
    out = gateway.send(env).output
    assert out["retRslt"][0]["rslt_code"] == "1"
    assert sandbox.books.ledger()["uploads"][0] == {"infno": "3505", "msgid": env.msgid, "codes": [CODE],
                                                    "setl_id": "S1"}


def test_a_code_already_sold_is_refused_naming_it(gateway):
    upload(gateway, sale_line())
    with pytest.raises(GatewayRefused) as err:
        upload(gateway, sale_line(setl_id="S2"))
    assert CODE in err.value.err_msg and "已销售" in err.value.err_msg


def test_same_code_twice_in_one_message_is_refused(gateway):
    with pytest.raises(GatewayRefused):
        upload(gateway, sale_line(), sale_line())


def test_replayed_upload_msgid_is_not_a_resale(sandbox, gateway):
    env = gateway.prepare("3505", tx.sale_upload_input([sale_line()]))
    gateway.send(env)
    gateway.send(env)
    assert len(sandbox.books.ledger()["uploads"]) == 1


def test_return_releases_the_code_for_sale_again(gateway):
    upload(gateway, sale_line())
    gateway.call("3506", tx.sale_return_input([sale_line(medins_prod_sel_no="DOC1")]))
    upload(gateway, sale_line(setl_id="S3"))


def test_return_of_an_unsold_code_is_refused(gateway):
    with pytest.raises(GatewayRefused):
        gateway.call("3506", tx.sale_return_input([sale_line(medins_prod_sel_no="DOC1")]))


def test_split_sale_code_may_repeat_but_not_be_sold_whole_after(gateway):
    upload(gateway, sale_line(trdn="1"))
    upload(gateway, sale_line(trdn="1", setl_id="S2"))
    with pytest.raises(GatewayRefused):
        upload(gateway, sale_line(setl_id="S3"))


def test_old_spec_single_code_per_line_is_accepted(sandbox, gateway):
    line = sale_line()
    del line["drugtracinfo"]
    line["drug_trac_codg"] = CODE
    upload(gateway, line)
    assert sandbox.books.ledger()["uploads"][0]["codes"] == [CODE]


def _settle(gateway):
    return tx.parse_setlinfo(gateway.call("2102", settle_body(), insuplc_admdvs="360102"))


def test_qr_query_download_and_dispense_flow(sandbox, gateway):
    voucher = tx.parse_evoucher(gateway.call("7201", tx.qr_parse_input("ECARDY6U3I0O7P4A1S8DQ", "0001", "P1")))
    assert voucher.certno == LIU["certno"] and voucher.insuplc_admdvs == "360102"
    rows = tx.parse_rx_list(gateway.call("7202", tx.rx_query_input("01", voucher.epc_token)))
    row = next(r for r in rows if r["hi_rxno"] == RX_LIU)
    assert {r["rx_stas_codg"] for r in rows} == {"valid", "expired"}
    rx = tx.parse_rx(gateway.call("7203", tx.rx_download_input(auth_rxno=row["auth_rxno"])))
    assert rx.hi_rxno == RX_LIU and rx.psn_no == LIU["psn_no"] and rx.prsc_dr_code == "D360102001002"
    gateway.call("7204", tx.rx_review_input(hi_rxno=RX_LIU, phar_code="PH1", phar_name="药师"))
    info = _settle(gateway)
    gateway.call("7206", tx.dispense_result_input(hi_rxno=RX_LIU, setl_id=info.setl_id, setl=info))
    assert {p["hi_rxno"]: p["status"] for p in sandbox.books.ledger()["prescriptions"]}[RX_LIU] == "dispensed"
    with pytest.raises(GatewayRefused) as err:
        gateway.call("7206", tx.dispense_result_input(hi_rxno=RX_LIU, setl_id=info.setl_id, setl=info))
    assert "已调剂" in err.value.err_msg
    # once dispensed, the same prescription no longer settles (RX_ALREADY_DISPENSED)
    with pytest.raises(GatewayRefused):
        _settle(gateway)


def test_dispensing_cancel_reopens_the_prescription_after_a_refund(sandbox, gateway):
    info = _settle(gateway)
    gateway.call("7206", tx.dispense_result_input(hi_rxno=RX_LIU, setl_id=info.setl_id, setl=info))
    gateway.call("2103", tx.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]), insuplc_admdvs="360102")
    gateway.call("7206", tx.dispense_result_input(hi_rxno=RX_LIU, setl_id=info.setl_id, cancel=True))
    assert {p["hi_rxno"]: p["status"] for p in sandbox.books.ledger()["prescriptions"]}[RX_LIU] == "valid"


def test_revoked_prescription_cannot_be_dispensed(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("7206", tx.dispense_result_input(hi_rxno="HX36011100301000000005", setl_id="S"))
    assert "HX36011100301000000005" in err.value.err_msg


def test_totals_reconciliation_balances_and_flags_a_difference(sandbox, gateway):
    info = _settle(gateway)
    today = sandbox.books.today().isoformat()
    ok = tx.parse_reconciliation(gateway.call("3201", tx.totals_reconciliation_input(
        stmt_begndate=today, stmt_enddate=today, medfee_sumamt=info.amounts["medfee_sumamt"],
        fund_pay_sumamt=info.amounts["fund_pay_sumamt"], acct_pay=info.amounts["acct_pay"], fixmedins_setl_cnt=1)))
    assert ok.balanced
    off = tx.parse_reconciliation(gateway.call("3201", tx.totals_reconciliation_input(
        stmt_begndate=today, stmt_enddate=today, medfee_sumamt=info.amounts["medfee_sumamt"],
        fund_pay_sumamt=info.amounts["fund_pay_sumamt"], acct_pay=info.amounts["acct_pay"], fixmedins_setl_cnt=2)))
    assert off.stmt_rslt == "1" and "fixmedins_setl_cnt" in off.stmt_rslt_dscr


def test_detail_reconciliation_lists_the_differing_rows(sandbox, gateway):
    info = _settle(gateway)
    today = sandbox.books.today().isoformat()
    rows = [{"setl_id": info.setl_id, "mdtrt_id": info.mdtrt_id, "psn_no": LIU["psn_no"],
             "medfee_sumamt": "598.00", "fund_pay_sumamt": "430.00", "acct_pay": "50.00", "refd_setl_flag": "0"},
            {"setl_id": "GHOST", "mdtrt_id": "M", "psn_no": LIU["psn_no"], "medfee_sumamt": "1.00",
             "fund_pay_sumamt": "0", "acct_pay": "0", "refd_setl_flag": "0"}]
    result = tx.parse_reconciliation(gateway.call("3202", tx.detail_reconciliation_input(
        stmt_begndate=today, stmt_enddate=today, rows=rows)))
    kinds = {(d["setl_id"], d["kind"], d.get("field")) for d in result.differences}
    assert kinds == {(info.setl_id, "amount_differs", "fund_pay_sumamt"), ("GHOST", "missing_at_insurer", None)}
    assert not result.balanced


def test_reconciliation_date_range_is_validated(gateway):
    with pytest.raises(GatewayRefused):
        gateway.call("3201", {"data": {"stmt_begndate": "2025-13-01", "stmt_enddate": str(date.today())}})
