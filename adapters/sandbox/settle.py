"""Sandbox handlers that move money: 【2101】预结算, 【2102】结算, 【2103】结算撤销, 【2601】冲正
(docs/gateway.md 2101–2601).

2101/2102 read the profile's head node (``druginfo``) and line list (``drugdetail``), check the person, credential,
insutype, ``med_type`` and the amounts (``medfee_sumamt`` = Σ ``det_item_fee_sumamt``, each = ``cnt`` × ``pric``),
then adjudicate.py judges and splits. Where the profile says the province wants the patient's password
(``settle.password_in_cainfo``), a 2102 without ``cainfo`` is refused unless the patient is insured in another
province; the sandbox checks its presence only (decrypting the RSA block would need the province's private key).

The rules that protect money (docs/architecture.md) as the insurer keeps them: a 2102 msgid commits once (a replay
answers the first result; center.dispatch); 2103 answers the cancellation's own negative amounts with the names the
interface tables give (``psn_pay``, ``cash_payamt``) and a new ``setl_id``; a 2601 undoes whatever its original
2102/2103 committed, even when that message's answer was lost, is refused for a settlement already cancelled (the
text a Zhejiang gateway gives), and refuses a reversal of a message it never received ("未找到原交易，无需冲正" —
the interface does not document this case; the text is this sandbox's choice) while remembering the msgid so the
original, should it arrive late, is refused instead of settling after its reversal. Reversing again succeeds again.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.nhsa.money import SETL_MONEY
from adapters.sandbox.adjudicate import Adjudication, DrugLine, adjudicate
from adapters.sandbox.books import ZERO, Books, Person, Processed, Settlement, q2
from adapters.sandbox.messages import Message, Refusal, amount, handles, text
from adapters.sandbox.persons import BASEINFO, NOT_FOUND, baseinfo_of, identify

TIME = "%Y-%m-%d %H:%M:%S"
#: (split field, fund_pay_type by insutype or one code, name) of the setldetail rows
FUNDS: tuple[tuple[str, dict[str, str], str, str], ...] = (
    ("hifp_pay", {"390": "390100"}, "310100", "基本医疗保险统筹基金"),
    ("hifob_pay", {}, "330100", "职工大额医疗费用补助基金"),
    ("hifmi_pay", {}, "390200", "城乡居民大病医疗保险资金"),
    ("maf_pay", {}, "610100", "医疗救助基金"),
    ("acct_pay", {}, "310200", "职工基本医疗保险个人账户基金"))
PASSWORD_REQUIRED = "请输入医保电子凭证或社保卡密码"
ALREADY_CANCELLED = "FSI-调用业务基础子系统冲正失败:冲正的结算信息退费结算标志不为未退费，不能办理冲正交易"
ORIGINAL_NOT_FOUND = "未找到原交易，无需冲正"


def _drug_lines(msg: Message) -> list[DrugLine]:
    name = msg.spec.lines if msg.spec is not None and msg.spec.lines else "drugdetail"
    rows = msg.rows(name)
    if not rows:
        raise Refusal(f"费用明细[{name}]不能为空")
    lines, seen = [], set()
    for row in rows:
        sn = text(row, "feedetl_sn")
        if sn in seen:
            raise Refusal(f"费用明细流水号[feedetl_sn]{sn}重复")
        seen.add(sn)
        cnt, pric, total = amount(row, "cnt", positive=True), amount(row, "pric"), amount(row, "det_item_fee_sumamt")
        if q2(cnt * pric) != q2(total):
            raise Refusal(f"费用明细{sn}：明细项目费用总额[det_item_fee_sumamt]与单价[pric]×数量[cnt]不符")
        lines.append(DrugLine(feedetl_sn=sn, med_list_codg=text(row, "med_list_codg"), cnt=cnt, pric=pric,
                              det_item_fee_sumamt=q2(total), rxno=text(row, "rxno"),
                              bilg_dr_codg=text(row, "bilg_dr_codg"), bilg_dr_name=text(row, "bilg_dr_name")))
    return lines


def _province(admdvs: str) -> str:
    return admdvs[:2]


def _person_of(books: Books, msg: Message) -> tuple[Person, str]:
    head = msg.data
    person = books.persons.get(text(head, "psn_no"))
    if person is None:
        raise Refusal(NOT_FOUND)
    if identify(books, {k: head.get(k) for k in ("mdtrt_cert_type", "mdtrt_cert_no", "card_sn")}) is not person:
        raise Refusal("就诊凭证[mdtrt_cert_no]与人员编号[psn_no]不符")
    insutype = text(head, "insutype")
    if not any(str(r.get("insutype")) == insutype for r in person.insuinfo):
        raise Refusal(f"险种类型[insutype]{insutype}与参保信息不符")
    if text(head, "acct_used_flag") not in ("0", "1"):
        raise Refusal("个人账户使用标志[acct_used_flag]应为0或1")
    assert msg.profile is not None
    if text(head, "med_type") != msg.profile.settle.med_type:
        raise Refusal(f"医疗类别[med_type]值[{text(head, 'med_type')}]不正确，应为{msg.profile.settle.med_type}")
    return person, insutype


def _adjudicate(books: Books, msg: Message) -> tuple[Person, str, list[DrugLine], Adjudication]:
    person, insutype = _person_of(books, msg)
    lines = _drug_lines(msg)
    total = sum((line.det_item_fee_sumamt for line in lines), ZERO)
    if q2(amount(msg.data, "medfee_sumamt")) != total:
        raise Refusal("医疗费总额[medfee_sumamt]与费用明细合计不符")
    verdict = adjudicate(books, person, insutype=insutype, acct_used=text(msg.data, "acct_used_flag") == "1",
                         lines=lines, pharmacy_admdvs=msg.field("mdtrtarea_admvs"))
    return person, insutype, lines, verdict


def _ratio(books: Books, insutype: str) -> Decimal:
    return Decimal(str(books.policy.ratio.get(insutype, ZERO))).quantize(Decimal("0.0001"))


def _money(verdict: Adjudication) -> dict[str, Decimal]:
    return {name: q2(Decimal(str(getattr(verdict.split, name)))) for name in SETL_MONEY}


def _detail(money: dict[str, Decimal], insutype: str) -> list[dict[str, Any]]:
    rows = []
    for name, by_insutype, code, title in FUNDS:
        if money.get(name, ZERO) != ZERO:
            rows.append({"fund_pay_type": by_insutype.get(insutype, code), "inscp_scp_amt": money["inscp_scp_amt"],
                         "crt_payb_lmt_amt": None, "fund_payamt": money[name], "fund_pay_type_name": title,
                         "setl_proc_info": None})
    return rows


def _prepay(books: Books, category: str) -> Decimal:
    rule = books.policy.categories.get(category)
    return Decimal(str(rule.prepay_ratio if rule is not None else ZERO)).quantize(Decimal("0.0001"))


def _cut_lines(books: Books, verdict: Adjudication, lines: list[DrugLine]) -> list[dict[str, Any]]:
    """``detlcutinfo``: per line, keyed by ``feedetl_sn``, the insurer's cut with the real line fields."""
    out = []
    for line, record, cut in zip(lines, verdict.records, verdict.split.lines, strict=True):
        out.append({"feedetl_sn": line.feedetl_sn, "det_item_fee_sumamt": line.det_item_fee_sumamt,
                    "cnt": line.cnt, "pric": line.pric, "pric_uplmt_amt": record.ceiling,
                    "selfpay_prop": _prepay(books, record.entry.category),
                    "fulamt_ownpay_amt": q2(cut.fulamt_ownpay_amt),
                    "overlmt_amt": q2(cut.overlmt_selfpay), "preselfpay_amt": q2(cut.preselfpay_amt),
                    "inscp_scp_amt": q2(cut.inscp_scp_amt), "chrgitm_lv": record.row.get("chrgitm_lv"),
                    "med_chrgitm_type": record.row.get("med_chrgitm_type"), "bas_medn_flag": "0",
                    "hi_nego_drug_flag": "1", "chld_medc_flag": "0", "list_sp_item_flag": None, "drt_reim_flag": "0",
                    "memo": None})
    return out


def _setlinfo(books: Books, msg: Message, person: Person, insutype: str, money: dict[str, Decimal], *,
              setl_id: str | None, mdtrt_id: str, setl_time: str | None) -> dict[str, Any]:
    base = baseinfo_of(person, books.today())
    row = person.insurance(insutype)
    info: dict[str, Any] = {"setl_id": setl_id, "mdtrt_id": mdtrt_id}
    info.update({k: base.get(k) for k in BASEINFO if k != "exp_content"})
    info.update(insutype=insutype, psn_type=row.get("psn_type"), cvlserv_flag=row.get("cvlserv_flag"),
                setl_time=setl_time, mdtrt_cert_type=text(msg.data, "mdtrt_cert_type"),
                med_type=text(msg.data, "med_type"))
    for name in SETL_MONEY:
        if name == "hifp_pay":
            info.update(hifp_pay=money[name], pool_prop_selfpay=_ratio(books, insutype), cvlserv_pay=q2(ZERO),
                        hifes_pay=q2(ZERO))
        elif name == "balc":
            info.update(hosp_part_amt=q2(ZERO), balc=money[name], acct_mulaid_pay=q2(ZERO))
        else:
            info[name] = money[name]
    assert msg.profile is not None
    info.update(medins_setl_id=msg.msgid, clr_optins=str(row.get("insuplc_admdvs") or ""), clr_way="1",
                clr_type=msg.profile.reconcile.clr_type, exp_content=None)
    return info


def _answer(books: Books, msg: Message, person: Person, insutype: str, lines: list[DrugLine], verdict: Adjudication,
            *, setl_id: str | None, mdtrt_id: str, setl_time: str | None) -> dict[str, Any]:
    money = _money(verdict)
    return {"setlinfo": _setlinfo(books, msg, person, insutype, money, setl_id=setl_id, mdtrt_id=mdtrt_id,
                                  setl_time=setl_time),
            "setldetail": _detail(money, insutype), "detlcutinfo": _cut_lines(books, verdict, lines)}


def _ids(books: Books) -> tuple[str, str]:
    """(setl_id, mdtrt_id): the insured place's division, the time and a serial (never repeated by this sandbox)."""
    admdvs = str(getattr(books.policy, "admdvs", "") or "000000")
    stamp, serial = books.now().strftime("%y%m%d%H%M%S"), books.next_serial()
    return f"{admdvs}{stamp}{serial:06d}", f"{admdvs}0{stamp}{serial:010d}"


@handles("2101")
def presettle(books: Books, msg: Message) -> dict[str, Any]:
    person, insutype, lines, verdict = _adjudicate(books, msg)
    return _answer(books, msg, person, insutype, lines, verdict, setl_id=None, mdtrt_id=_ids(books)[1],
                   setl_time=None)


def _delta(money: dict[str, Decimal]) -> dict[str, Decimal]:
    """What one settlement adds to the insurer's year-to-date (docs/policies.md §3: deductible, basic fund, in-scope
    personal share before the supplementary tier, supplementary) and takes from the account."""
    return {"deductible_paid": money["act_pay_dedc"], "fund_paid": money["hifp_pay"],
            "selfpay": max(ZERO, money["inscp_scp_amt"] - money["hifp_pay"]),
            "supplementary_paid": money["hifmi_pay"] + money["hifob_pay"], "acct_pay": money["acct_pay"]}


def _ledger_lines(lines: list[DrugLine], verdict: Adjudication) -> list[dict[str, Any]]:
    return [{"feedetl_sn": line.feedetl_sn, "med_list_codg": line.med_list_codg, "rxno": line.rxno,
             "cnt": line.cnt, "pric": line.pric, "det_item_fee_sumamt": line.det_item_fee_sumamt,
             "line_total": q2(cut.line_total), "fulamt_ownpay_amt": q2(cut.fulamt_ownpay_amt),
             "overlmt_selfpay": q2(cut.overlmt_selfpay), "preselfpay_amt": q2(cut.preselfpay_amt),
             "inscp_scp_amt": q2(cut.inscp_scp_amt)} for line, cut in zip(lines, verdict.split.lines, strict=True)]


@handles("2102")
def settle(books: Books, msg: Message) -> dict[str, Any]:
    assert msg.profile is not None
    person, insutype, lines, verdict = _adjudicate(books, msg)
    insured_here = _province(str(person.insurance(insutype).get("insuplc_admdvs") or "")) == \
        _province(msg.field("mdtrtarea_admvs"))
    if msg.profile.settle.password_in_cainfo and not msg.field("cainfo").strip() and insured_here:
        raise Refusal(PASSWORD_REQUIRED)
    setl_time = books.now().strftime(TIME)
    setl_id, mdtrt_id = _ids(books)
    output = _answer(books, msg, person, insutype, lines, verdict, setl_id=setl_id, mdtrt_id=mdtrt_id,
                     setl_time=setl_time)
    money, rx = _money(verdict), verdict.prescription
    settlement = Settlement(setl_id=setl_id, mdtrt_id=mdtrt_id, msgid=msg.msgid, psn_no=person.psn_no,
                            insutype=insutype, fixmedins_code=msg.field("fixmedins_code"), setl_time=setl_time,
                            split=money, lines=_ledger_lines(lines, verdict), hi_rxno=rx.hi_rxno if rx else "",
                            institution_code=rx.rule.institution_code if rx else "", delta=_delta(money),
                            invono=text(msg.data, "invono"), clr_optins=output["setlinfo"]["clr_optins"],
                            pool_prop=output["setlinfo"]["pool_prop_selfpay"], detail=output["setldetail"])
    books.settlements[setl_id] = settlement
    books.apply_delta(person.psn_no, settlement.delta, insutype=insutype)
    output["setlinfo"]["balc"] = q2(Decimal(str(person.insurance(insutype).get("balc") or "0")))
    books.processed[msg.msgid] = Processed(msg.msgid, "2102", output, setl_id=setl_id)
    return output


#: 2103 ``setlinfo`` in the order of the interface table, with its own names for the personal and cash parts.
CANCEL_FIELDS = ("mdtrt_id", "setl_id", "clr_optins", "medfee_sumamt", "setl_time", "fulamt_ownpay_amt",
                 "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "pool_prop_selfpay",
                 "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay", "fund_pay_sumamt",
                 "psn_pay", "acct_pay", "cash_payamt", "balc", "acct_mulaid_pay", "medins_setl_id")


@handles("2103")
def cancel(books: Books, msg: Message) -> dict[str, Any]:
    s = books.settlements.get(text(msg.data, "setl_id"))
    if s is None:
        raise Refusal(f"未找到结算记录[setl_id]{text(msg.data, 'setl_id')}")
    if s.mdtrt_id != text(msg.data, "mdtrt_id") or s.psn_no != text(msg.data, "psn_no"):
        raise Refusal("就诊ID[mdtrt_id]或人员编号[psn_no]与原结算不符")
    if s.state != "settled":
        raise Refusal(f"结算[{s.setl_id}]已{'撤销' if s.state == 'cancelled' else '冲正'}，不能重复撤销")
    books.apply_delta(s.psn_no, s.delta, -1, insutype=s.insutype)
    s.state, s.cancel_msgid, s.cancel_setl_id = "cancelled", msg.msgid, _ids(books)[0]
    negative = {name: -value for name, value in s.split.items()}
    values = {**negative, "psn_pay": negative["psn_part_amt"], "cash_payamt": negative["psn_cash_pay"],
              "mdtrt_id": s.mdtrt_id, "setl_id": s.cancel_setl_id, "clr_optins": s.clr_optins,
              "setl_time": books.now().strftime(TIME), "pool_prop_selfpay": s.pool_prop, "cvlserv_pay": q2(ZERO),
              "hifes_pay": q2(ZERO), "acct_mulaid_pay": q2(ZERO), "medins_setl_id": msg.msgid,
              "balc": q2(Decimal(str(books.persons[s.psn_no].insurance(s.insutype).get("balc") or "0")))}
    detail = [{**row, "inscp_scp_amt": -row["inscp_scp_amt"], "fund_payamt": -row["fund_payamt"]} for row in s.detail]
    output = {"setlinfo": {name: values[name] for name in CANCEL_FIELDS}, "setldetail": detail}
    books.processed[msg.msgid] = Processed(msg.msgid, "2103", output, setl_id=s.setl_id)
    return output


def _undo(books: Books, original: Processed) -> None:
    """Undo what the original 2102/2103 committed (refused when a 2102's settlement was cancelled meanwhile)."""
    s = books.settlements.get(original.setl_id)
    if s is None:
        return
    if original.infno == "2102":
        if s.state == "cancelled":
            raise Refusal(ALREADY_CANCELLED)
        if s.state == "settled":
            books.apply_delta(s.psn_no, s.delta, -1, insutype=s.insutype)
            s.state = "reversed"
    elif s.state == "cancelled" and s.cancel_msgid == original.msgid:  # reversing a cancel re-instates the settlement
        books.apply_delta(s.psn_no, s.delta, 1, insutype=s.insutype)
        s.state, s.cancel_msgid, s.cancel_setl_id = "settled", "", ""


@handles("2601")
def reverse(books: Books, msg: Message) -> None:
    omsgid, oinfno = text(msg.data, "omsgid"), text(msg.data, "oinfno")
    if len(oinfno) > 6 or oinfno[:4] not in ("2102", "2103"):
        raise Refusal(f"原交易编号[oinfno]{oinfno[:6]}不支持冲正")
    original = books.processed.get(omsgid)
    if original is None:
        books.reversed_unseen.add(omsgid)
        raise Refusal(ORIGINAL_NOT_FOUND)
    if original.infno != oinfno[:4]:
        raise Refusal(f"原报文[omsgid]{omsgid}的交易编号为{original.infno}，与原交易编号[oinfno]{oinfno}不符")
    settlement = books.settlements.get(original.setl_id)
    if settlement is not None and settlement.psn_no != text(msg.data, "psn_no"):
        raise Refusal("人员编号[psn_no]与原交易不符")
    if not original.reversed:
        _undo(books, original)
        original.reversed = True
    books.processed[msg.msgid] = Processed(msg.msgid, "2601", None)
    return None
