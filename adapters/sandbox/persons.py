"""Persons at the sandbox insurer: seeding them (``POST /sandbox/persons``), finding them by 就诊凭证, and the
transactions about them — 【1101】人员信息获取 and 【5206】人员累计信息查询 (docs/gateway.md 1101, 5206).

A person is seeded in the 1101 answer's own shapes, ``{baseinfo, insuinfo, idetinfo}``, plus what identifies them
elsewhere: ``ecard_qr`` (the e-voucher QR value the decode service reads, evoucher.py), ``ec_token`` (a token
provisioned without a decode, never expiring), ``card_no``/``card_sn``, ``password`` and the accumulators ``cum``.
The wave-1 flat body (``psn_no, certno, psn_name, insutype, insuplc_admdvs, balc, ecard_token, card_no, card_sn,
ytd``) is still read and translated.

1101 finds the person by the credential type: ``01`` a live e-voucher token (issued by the decode service and not
expired; the ``certno``/``psn_name`` sent, when sent, must be the token holder's), ``02`` the ID number, ``03`` the
card number with its ``card_sn``. 5206 answers ``cuminfo`` rows whose ``cum_type_code`` is this sandbox's choice
(``CUM_TYPE_CODES``, documented in docs/sandbox.md) — real code tables are provincial.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from adapters.sandbox import bodies
from adapters.sandbox.books import YTD_KEYS, ZERO, Books, EcToken, Person, q2
from adapters.sandbox.messages import Message, Refusal, handles, need, text

NOT_FOUND = "未查询到人员信息"
INSUTYPES = ("310", "320", "330", "340", "390", "391", "392", "399", "410", "510")
BASEINFO = ("psn_no", "psn_cert_type", "certno", "psn_name", "gend", "naty", "brdy", "age", "exp_content")
INSUINFO = ("balc", "insutype", "psn_type", "psn_insu_stas", "psn_insu_date", "paus_insu_date", "cvlserv_flag",
            "insuplc_admdvs", "emp_name")
IDETINFO = ("psn_idet_type", "psn_type_lv", "memo", "begntime", "endtime")
#: 5206 ``cum_type_code`` of each accumulator (the sandbox's code table; a province's differs).
CUM_TYPE_CODES = {"deductible_paid": "C0101", "fund_paid": "C0201", "selfpay": "C0301", "supplementary_paid": "C0401"}
_CUM_KEYS = {**{k: k for k in YTD_KEYS}, **{code: key for key, code in CUM_TYPE_CODES.items()}}


# -- seeding --------------------------------------------------------------------------------------------------------
def _cum(value: Any, field: str) -> dict[str, Decimal]:
    raw = bodies.obj(value if value is not None else {}, field)
    out = {k: ZERO for k in YTD_KEYS}
    for key, amount in raw.items():
        if key not in _CUM_KEYS:
            raise bodies.bad(field, f"must be an object with {', '.join(YTD_KEYS)} (or their cum_type_codes).",
                             "格式不正确。")
        out[_CUM_KEYS[key]] = q2(bodies.money(amount, f"{field}.{key}", default="0"))
    return out


def _from_certno(certno: str) -> tuple[str, str]:
    """(brdy, gend) an 18-digit resident ID number states (GB 11643): birth date and the sex digit."""
    if len(certno) == 18 and certno[:17].isdigit():
        try:
            born = date(int(certno[6:10]), int(certno[10:12]), int(certno[12:14]))
        except ValueError:
            return "", ""
        return born.isoformat(), "1" if int(certno[16]) % 2 else "2"
    return "", ""


def _insurance(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """One insuinfo row; ``prefix`` names it in errors ("insuinfo[0]." or "" for the wave-1 flat body)."""
    out = bodies.scalar_copy(row, INSUINFO, prefix.rstrip(".") or "body")
    insutype = bodies.text(row, "insutype", f"{prefix}insutype", choices=INSUTYPES)
    out.update(insutype=insutype,
               insuplc_admdvs=bodies.text(row, "insuplc_admdvs", f"{prefix}insuplc_admdvs", pattern=bodies.ADMDVS),
               balc=q2(bodies.money(row.get("balc"), f"{prefix}balc", default="0")),
               psn_type=bodies.text(row, "psn_type", f"{prefix}psn_type", required=False)
               or ("1101" if insutype in ("310", "320", "330", "340") else "1501"),
               psn_insu_stas=bodies.text(row, "psn_insu_stas", f"{prefix}psn_insu_stas", required=False) or "1",
               cvlserv_flag=bodies.text(row, "cvlserv_flag", f"{prefix}cvlserv_flag", required=False) or "0")
    return out


def _baseinfo(d: dict[str, Any], prefix: str) -> dict[str, Any]:
    out = bodies.scalar_copy(d, BASEINFO, prefix.rstrip(".") or "body")
    certno = bodies.text(d, "certno", f"{prefix}certno")
    brdy, gend = _from_certno(certno)
    given_brdy = bodies.day(d.get("brdy"), f"{prefix}brdy", required=False)
    out.update(psn_no=bodies.text(d, "psn_no", f"{prefix}psn_no"), certno=certno,
               psn_name=bodies.text(d, "psn_name", f"{prefix}psn_name"),
               psn_cert_type=bodies.text(d, "psn_cert_type", f"{prefix}psn_cert_type", required=False) or "01",
               gend=bodies.text(d, "gend", f"{prefix}gend", required=False) or gend,
               naty=bodies.text(d, "naty", f"{prefix}naty", required=False) or "01",
               brdy=given_brdy.isoformat() if given_brdy else brdy)
    return out


def _identifiers(d: dict[str, Any]) -> dict[str, Any]:
    return {key: bodies.text(d, key, required=False) for key in ("ecard_qr", "card_no", "card_sn", "password")}


def person_from_mapping(d: Any) -> tuple[Person, str]:
    """A ``POST /sandbox/persons`` body → (the person, a provisioned e-voucher token or "")."""
    d = bodies.obj(d, "body")
    if "baseinfo" in d:
        base = _baseinfo(bodies.obj(d["baseinfo"], "baseinfo"), "baseinfo.")
        insuinfo = [_insurance(r, f"insuinfo[{i}].") for i, r in enumerate(bodies.rows(d.get("insuinfo"), "insuinfo"))]
        idetinfo = [bodies.scalar_copy(r, IDETINFO, f"idetinfo[{i}]")
                    for i, r in enumerate(bodies.rows(d.get("idetinfo"), "idetinfo", required=False))]
        person = Person(psn_no=base["psn_no"], baseinfo=base, insuinfo=insuinfo, idetinfo=idetinfo,
                        cum=_cum(d.get("cum"), "cum"), **_identifiers(d))
        return person, bodies.text(d, "ec_token", required=False)
    # wave 1: one flat object
    base = _baseinfo({k: d.get(k) for k in ("psn_no", "certno", "psn_name", "gend", "brdy")}, "")
    row = _insurance({k: d.get(k) for k in ("insutype", "insuplc_admdvs", "balc", "psn_type")}, "")
    person = Person(psn_no=base["psn_no"], baseinfo=base, insuinfo=[row], cum=_cum(d.get("ytd"), "ytd"),
                    **_identifiers(d))
    return person, bodies.text(d, "ecard_token", required=False) or bodies.text(d, "ec_token", required=False)


def add_person(books: Books, d: Any) -> Person:
    person, token = person_from_mapping(d)
    with books.lock:
        books.persons[person.psn_no] = person
        if token:
            books.ec_tokens[token] = EcToken(token, person.psn_no, None)
    return person


# -- finding --------------------------------------------------------------------------------------------------------
def identify(books: Books, data: dict[str, Any]) -> Person:
    """The person a 就诊凭证 names: 01 e-voucher token, 02 ID number, 03 social-security card + card_sn."""
    cert_type = text(data, "mdtrt_cert_type")
    if cert_type not in ("01", "02", "03"):
        raise Refusal(f"就诊凭证类型[mdtrt_cert_type]值[{cert_type}]不正确，应为01、02或03")
    need(data, "mdtrt_cert_no")
    cert_no = text(data, "mdtrt_cert_no")
    if cert_type == "01":
        person = books.person_by_token(cert_no)
        if person is None:
            raise Refusal("医保电子凭证令牌[mdtrt_cert_no]无效或已过期，请重新扫码")
        certno, name = text(data, "certno"), text(data, "psn_name")
        if (certno and certno.upper() != person.certno.upper()) or (name and name != person.psn_name):
            raise Refusal("证件号码[certno]或人员姓名[psn_name]与医保电子凭证不符")
        return person
    if cert_type == "02":
        person = books.person_by_certno(cert_no)
    else:
        if not text(data, "card_sn"):
            raise Refusal("社会保障卡的卡识别码[card_sn]不能为空")
        person = books.person_by_card(cert_no, text(data, "card_sn"))
    if person is None:
        raise Refusal(NOT_FOUND)
    name = text(data, "psn_name")
    if name and name != person.psn_name:
        raise Refusal("人员姓名[psn_name]与证件信息不符")
    return person


def age(brdy: str, today: date) -> Decimal | None:
    """Age in years with one decimal, as 1101 answers it (57.6)."""
    try:
        born = date.fromisoformat(brdy[:10])
    except ValueError:
        return None
    return (Decimal((today - born).days) / Decimal("365.25")).quantize(Decimal("0.1"), rounding=ROUND_DOWN)


def baseinfo_of(person: Person, today: date) -> dict[str, Any]:
    out = {key: person.baseinfo.get(key) for key in BASEINFO}
    out["age"] = age(str(person.baseinfo.get("brdy") or ""), today) or person.baseinfo.get("age")
    return out


@handles("1101")
def person_info(books: Books, msg: Message) -> dict[str, Any]:
    person = identify(books, msg.data)
    return {"baseinfo": baseinfo_of(person, books.today()),
            "insuinfo": [{key: row.get(key) for key in INSUINFO} for row in person.insuinfo],
            "idetinfo": [dict(row) for row in person.idetinfo]}


@handles("5206")
def accumulations(books: Books, msg: Message) -> dict[str, Any]:
    person = books.persons.get(text(msg.data, "psn_no"))
    if person is None:
        raise Refusal(NOT_FOUND)
    cum_ym = text(msg.data, "cum_ym")
    if cum_ym and not (len(cum_ym) == 6 and cum_ym.isdigit()):
        raise Refusal("累计年月[cum_ym]格式不正确，应为yyyyMM")
    today = books.today()
    return {"cuminfo": [{"insutype": person.insutype, "year": str(today.year),
                         "cum_ym": cum_ym or f"{today:%Y%m}", "cum_type_code": CUM_TYPE_CODES[key],
                         "cum": q2(person.cum[key])} for key in YTD_KEYS]}
