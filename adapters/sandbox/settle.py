"""Sandbox handlers that move money: 2101 pre-settlement, 2102 settlement, 2103 cancel, 2601 reversal (冲正).

The rules that protect money (docs/architecture.md) as the insurer keeps them: a 2102 msgid commits once (a replay answers the
first result; center.dispatch); a 2601 undoes whatever its original message committed, even when that message's
answer was lost, and answers "nothing found" for a message that never arrived — then remembers the msgid so the
original, should it arrive late, is refused instead of settling after its reversal.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.sandbox.adjudicate import SETL_MONEY, DrugLine, adjudicate
from adapters.sandbox.books import ZERO, Books, Person, Processed, Settlement, money_str, q2
from adapters.sandbox.messages import Message, Refusal, amount, handles, need, text
from adapters.sandbox.queries import NOT_FOUND

FUND_TYPES = {"hifp_pay": {"310": "310100", "390": "390100"}, "hifob_pay": "330100", "hifmi_pay": "390200",
              "maf_pay": "610100", "oth_pay": "999996"}


def _drug_lines(msg: Message) -> list[DrugLine]:
    rows = msg.rows("drugdetail")
    if not rows:
        raise Refusal("费用明细[drugdetail]不能为空")
    lines, seen = [], set()
    for row in rows:
        need(row, "feedetl_sn", "med_list_codg", "cnt", "pric", "det_item_fee_sumamt")
        sn = text(row, "feedetl_sn")
        if sn in seen:
            raise Refusal(f"费用明细流水号[feedetl_sn]{sn}重复")
        seen.add(sn)
        cnt, pric = amount(row, "cnt", positive=True), amount(row, "pric")
        total = amount(row, "det_item_fee_sumamt")
        if q2(cnt * pric) != q2(total):
            raise Refusal(f"费用明细{sn}：明细项目费用总额[det_item_fee_sumamt]与单价×数量不符")
        lines.append(DrugLine(feedetl_sn=sn, med_list_codg=text(row, "med_list_codg"), cnt=cnt, pric=pric,
                              det_item_fee_sumamt=q2(total), rxno=text(row, "rxno"),
                              flagged=text(row, "fulamt_ownpay_flag") == "1",
                              donated=text(row, "donated_flag") == "1"))
    return lines


def _person_of(books: Books, msg: Message) -> Person:
    data = msg.data
    need(data, "psn_no", "mdtrt_cert_type", "mdtrt_cert_no", "medfee_sumamt", "acct_used_flag")
    person = books.persons.get(text(data, "psn_no"))
    if person is None:
        raise Refusal(NOT_FOUND)
    holder = books.find_person(text(data, "mdtrt_cert_type"), text(data, "mdtrt_cert_no"), text(data, "card_sn"))
    if holder is not None and holder.psn_no != person.psn_no:
        raise Refusal("就诊凭证与人员编号[psn_no]不符")
    insutype = text(data, "insutype")
    if insutype and insutype != person.insutype:
        raise Refusal(f"险种类型[insutype]{insutype}与参保信息不符")
    if text(data, "acct_used_flag") not in ("0", "1"):
        raise Refusal("个人账户使用标志[acct_used_flag]应为0或1")
    return person


def _adjudicate(books: Books, msg: Message) -> tuple[Person, Any]:
    person = _person_of(books, msg)
    lines = _drug_lines(msg)
    total = sum((line.det_item_fee_sumamt for line in lines), ZERO)
    if q2(amount(msg.data, "medfee_sumamt")) != q2(total):
        raise Refusal("医疗费总额[medfee_sumamt]与费用明细合计不符")
    verdict = adjudicate(books, person, insutype=person.insutype, acct_used=text(msg.data, "acct_used_flag") == "1",
                         lines=lines, pharmacy_admdvs=msg.field("mdtrtarea_admvs"))
    return person, verdict


def _setl_output(person: Person, split: dict[str, Decimal], lines: list[dict[str, Any]], *, setl_id: str,
                 mdtrt_id: str, setl_time: str) -> dict[str, Any]:
    info: dict[str, Any] = {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": person.psn_no,
                            "psn_name": person.psn_name, "psn_cert_type": "01", "certno": person.certno,
                            "insutype": person.insutype, "med_type": "41"}
    info.update({name: money_str(split[name]) for name in SETL_MONEY})
    info.update({"clr_optins": person.insuplc_admdvs, "clr_way": "1", "clr_type": "41", "setl_time": setl_time})
    detail = []
    for name, code in FUND_TYPES.items():
        if split.get(name, ZERO) != ZERO:
            code = code.get(person.insutype, "310100") if isinstance(code, dict) else code
            detail.append({"fund_pay_type": code, "fund_payamt": money_str(split[name]), "fund_pay_type_name": name})
    if split.get("acct_pay", ZERO) != ZERO:
        detail.append({"fund_pay_type": "310200", "fund_payamt": money_str(split["acct_pay"]),
                       "fund_pay_type_name": "acct_pay"})
    return {"setlinfo": info, "setldetail": detail, "detlcutinfo": lines}


@handles("2101")
def presettle(books: Books, msg: Message) -> dict[str, Any]:
    person, verdict = _adjudicate(books, msg)
    return _setl_output(person, verdict.split, verdict.lines, setl_id="", mdtrt_id="",
                        setl_time=books.now().strftime("%Y-%m-%d %H:%M:%S"))


def _delta(split: dict[str, Decimal]) -> dict[str, Decimal]:
    """What one settlement adds to the insurer's year-to-date (docs/policies.md §3: deductible, basic fund, in-scope
    personal share before the supplementary tier, supplementary) and takes from the account."""
    return {"deductible_paid": split["act_pay_dedc"], "fund_paid": split["hifp_pay"],
            "selfpay": max(ZERO, split["inscp_scp_amt"] - split["hifp_pay"]),
            "supplementary_paid": split["hifmi_pay"] + split["hifob_pay"], "acct_pay": split["acct_pay"]}


@handles("2102")
def settle(books: Books, msg: Message) -> dict[str, Any]:
    person, verdict = _adjudicate(books, msg)
    setl_time = books.now().strftime("%Y-%m-%d %H:%M:%S")
    setl_id, mdtrt_id = books.new_id("ST"), books.new_id("MD")
    settlement = Settlement(setl_id=setl_id, mdtrt_id=mdtrt_id, msgid=msg.msgid, psn_no=person.psn_no,
                            insutype=person.insutype, fixmedins_code=msg.field("fixmedins_code"),
                            setl_time=setl_time, split=verdict.split, lines=verdict.lines,
                            hi_rxno=verdict.hi_rxno, institution_code=verdict.institution_code,
                            delta=_delta(verdict.split))
    books.settlements[setl_id] = settlement
    books.apply_delta(person.psn_no, settlement.delta)
    output = _setl_output(person, verdict.split, verdict.lines, setl_id=setl_id, mdtrt_id=mdtrt_id,
                          setl_time=setl_time)
    books.processed[msg.msgid] = Processed(msg.msgid, "2102", output, setl_id=setl_id)
    return output


@handles("2103")
def cancel(books: Books, msg: Message) -> dict[str, Any]:
    need(msg.data, "setl_id", "mdtrt_id", "psn_no")
    s = books.settlements.get(text(msg.data, "setl_id"))
    if s is None:
        raise Refusal(f"未找到结算记录[{text(msg.data, 'setl_id')}]")
    if s.mdtrt_id != text(msg.data, "mdtrt_id") or s.psn_no != text(msg.data, "psn_no"):
        raise Refusal("就诊ID[mdtrt_id]或人员编号[psn_no]与原结算不符")
    if s.state != "settled":
        raise Refusal(f"结算[{s.setl_id}]已{'撤销' if s.state == 'cancelled' else '冲正'}，不能重复撤销")
    books.apply_delta(s.psn_no, s.delta, -1)
    s.state, s.cancel_msgid, s.cancel_setl_id = "cancelled", msg.msgid, books.new_id("ST")
    person = books.persons[s.psn_no]
    negated = {name: -value for name, value in s.split.items()}
    negated["balc"] = person.balc
    lines = [dict(line, **{k: str(-Decimal(line[k])) for k in ("det_item_fee_sumamt", "fulamt_ownpay_amt",
                                                                "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
                           if k in line}) for line in s.lines]
    output = _setl_output(person, negated, lines, setl_id=s.cancel_setl_id, mdtrt_id=s.mdtrt_id,
                          setl_time=books.now().strftime("%Y-%m-%d %H:%M:%S"))
    output["setlinfo"]["orig_setl_id"] = s.setl_id
    books.processed[msg.msgid] = Processed(msg.msgid, "2103", output, setl_id=s.setl_id)
    return output


def _undo(books: Books, original: Processed) -> str:
    """Undo what the original 2102/2103 committed; returns the description of what happened."""
    s = books.settlements.get(original.setl_id)
    if s is None:
        return "原交易无结算记录"
    if original.infno == "2102":
        if s.state == "settled":
            books.apply_delta(s.psn_no, s.delta, -1)
            s.state = "reversed"
            return "原结算已冲正"
        return "原结算已撤销，无需冲正" if s.state == "cancelled" else "原结算已冲正"
    if s.state == "cancelled" and s.cancel_msgid == original.msgid:  # reversing a cancel re-instates the settlement
        books.apply_delta(s.psn_no, s.delta, 1)
        s.state, s.cancel_msgid, s.cancel_setl_id = "settled", "", ""
        return "原撤销交易已冲正，结算恢复"
    return "原撤销交易已冲正"


@handles("2601")
def reverse(books: Books, msg: Message) -> dict[str, Any]:
    need(msg.data, "omsgid", "oinfno")
    omsgid, oinfno = text(msg.data, "omsgid"), text(msg.data, "oinfno")[:4]
    if oinfno not in ("2102", "2103"):
        raise Refusal(f"交易[{oinfno}]不支持冲正")
    original = books.processed.get(omsgid)
    result = {"omsgid": omsgid, "oinfno": oinfno, "setl_id": "", "rvs_rslt": "0"}
    if original is None:
        books.reversed_unseen.add(omsgid)
        result["rslt_dscr"] = "未找到原交易，无需冲正"
    else:
        if original.infno != oinfno:
            raise Refusal(f"原报文[{omsgid}]的交易编号为{original.infno}，与[oinfno]{oinfno}不符")
        psn_no = text(msg.data, "psn_no")
        settlement = books.settlements.get(original.setl_id)
        if psn_no and settlement is not None and settlement.psn_no != psn_no:
            raise Refusal("人员编号[psn_no]与原交易不符")
        result["rslt_dscr"] = "原交易已冲正" if original.reversed else _undo(books, original)
        original.reversed = True
        result.update(setl_id=original.setl_id, rvs_rslt="1")
    output = {"data": result}
    books.processed[msg.msgid] = Processed(msg.msgid, "2601", output)
    return output
