"""The sandbox admin API (docs/sandbox.md, a contract): seed the insurer's books, change its policy, arm faults, read
its ledger. JSON only, served only by the sandbox app. An invalid body is ``400 {"error": {...}}`` naming the field,
with the same error shape as rxlane's own API (``plugin/errors.py``).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from plugin.errors import InvalidInput, RxlaneError
from plugin.eligibility import CatalogEntry, Filing, Prescription

from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.books import YTD_KEYS, Books, Person
from adapters.sandbox.faults import MODES, Fault, FaultBoard

INSUTYPES = ("310", "320", "330", "340", "390", "391", "392", "510")
_ADMDVS = re.compile(r"\d{6}")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", "请求体必须是 JSON 对象。", field="body")
    return data


def _text(d: dict[str, Any], key: str, *, required: bool = True, pattern: re.Pattern[str] | None = None) -> str:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{key}: is required.", f"字段 {key}：为必填项。", field=key)
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"{key}: must be a string.", f"字段 {key}：必须是字符串。", field=key)
    text = str(value).strip()
    if pattern is not None and not pattern.fullmatch(text):
        raise InvalidInput(f"{key}: has the wrong format.", f"字段 {key}：格式不正确。", field=key)
    return text


def _money(value: Any, key: str) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{key}: must be a decimal amount.", f"字段 {key}：必须是金额。", field=key) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{key}: must not be negative.", f"字段 {key}：不能为负数。", field=key)
    return amount


def person_from_mapping(d: dict[str, Any]) -> Person:
    """The body of ``POST /sandbox/persons`` (plus optional ``card_no``, ``gend``, ``brdy``, ``psn_type``)."""
    insutype = _text(d, "insutype")
    if insutype not in INSUTYPES:
        raise InvalidInput(f"insutype: must be one of {', '.join(INSUTYPES)}.", "字段 insutype：险种类型不正确。",
                           field="insutype")
    ytd_raw = d.get("ytd") or {}
    if not isinstance(ytd_raw, dict) or set(ytd_raw) - set(YTD_KEYS):
        raise InvalidInput(f"ytd: must be an object with {', '.join(YTD_KEYS)}.", "字段 ytd：格式不正确。", field="ytd")
    certno = _text(d, "certno")
    brdy = _text(d, "brdy", required=False)
    gend = _text(d, "gend", required=False)
    if len(certno) == 18 and certno[:17].isdigit():
        brdy = brdy or f"{certno[6:10]}-{certno[10:12]}-{certno[12:14]}"
        gend = gend or ("1" if int(certno[16]) % 2 else "2")
    return Person(
        psn_no=_text(d, "psn_no"), certno=certno, psn_name=_text(d, "psn_name"), insutype=insutype,
        insuplc_admdvs=_text(d, "insuplc_admdvs", pattern=_ADMDVS), balc=_money(d.get("balc", "0"), "balc"),
        ecard_token=_text(d, "ecard_token", required=False), card_no=_text(d, "card_no", required=False),
        card_sn=_text(d, "card_sn", required=False), gend=gend, brdy=brdy,
        psn_type=_text(d, "psn_type", required=False) or ("11" if insutype == "310" else "1501"),
        ytd={k: _money(ytd_raw.get(k, "0"), f"ytd.{k}") for k in YTD_KEYS})


def add_filing(books: Books, d: dict[str, Any]) -> Filing:
    psn_no = _text(d, "psn_no")
    if psn_no not in books.persons:
        raise InvalidInput(f"psn_no: no person {psn_no}; add the person first.", "字段 psn_no：人员不存在。",
                           field="psn_no")
    physicians = d.get("physicians")
    if not isinstance(physicians, list) or not physicians:
        # 定责任医师 (渝医保发〔2021〕12号 §四(四)): a filing names its 1–2 responsible physicians
        raise InvalidInput("physicians: must list 1–2 responsible physicians.", "字段 physicians：必须填写1–2名责任医师。",
                           field="physicians")
    body = dict(d)
    body.setdefault("cross_region_approved", False)
    filing = Filing.from_mapping(body)
    books.add_filing(psn_no, filing)
    if d.get("institution_name"):
        books.institutions[filing.institution_code] = str(d["institution_name"])
    for code, name in (d.get("physician_names") or {}).items():
        books.physicians[str(code)] = str(name)
    return filing


def add_prescription(books: Books, d: dict[str, Any]) -> Prescription:
    rx = Prescription.from_mapping(d)
    if rx.psn_no not in books.persons:
        raise InvalidInput(f"psn_no: no person {rx.psn_no}; add the person first.", "字段 psn_no：人员不存在。",
                           field="psn_no")
    books.add_prescription(rx)
    books.rx_extra[rx.hi_rxno] = {k: str(d[k]) for k in ("diag_name", "unit") if d.get(k)}
    if d.get("physician_name"):
        books.physicians[rx.physician_code] = str(d["physician_name"])
    if d.get("institution_name"):
        books.institutions[rx.institution_code] = str(d["institution_name"])
    return rx


def fault_from_mapping(d: dict[str, Any]) -> Fault:
    infno = _text(d, "infno", pattern=re.compile(r"\d{4}"))
    mode = _text(d, "mode")
    if mode not in MODES:
        raise InvalidInput(f"mode: must be one of {', '.join(MODES)}.", f"字段 mode：必须是 {'、'.join(MODES)} 之一。",
                           field="mode")
    times, delay = d.get("times", 1), d.get("delay_ms")
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise InvalidInput("times: must be a whole number of at least 1.", "字段 times：必须是正整数。", field="times")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 600000):
        raise InvalidInput("delay_ms: must be a whole number 0–600000.", "字段 delay_ms：必须是 0–600000 的整数。",
                           field="delay_ms")
    err_msg = d.get("err_msg") or ""
    if not isinstance(err_msg, str):
        raise InvalidInput("err_msg: must be a string.", "字段 err_msg：必须是字符串。", field="err_msg")
    return Fault(infno=infno, mode=mode, times=times, delay_ms=delay, err_msg=err_msg)


def create_admin_blueprint() -> Blueprint:
    bp = Blueprint("sandbox_admin", __name__, url_prefix="/sandbox")

    def books() -> Books:
        return current_app.extensions["sandbox.books"]

    def faults() -> FaultBoard:
        return current_app.extensions["sandbox.faults"]

    @bp.errorhandler(RxlaneError)
    def _refused(exc: RxlaneError) -> tuple[Response, int]:
        return jsonify(exc.to_body()), exc.http_status

    @bp.post("/reset")
    def reset() -> Response:
        from adapters.sandbox.demo import load_demo
        data = request.get_json(silent=True) or {}
        if not isinstance(data, dict):
            raise InvalidInput("The body must be a JSON object.", "请求体必须是 JSON 对象。", field="body")
        with books().lock:
            books().reset()
            faults().clear()
            if data.get("demo"):
                load_demo(books())
        return jsonify({"ok": True, "demo": bool(data.get("demo"))})

    @bp.put("/policy")
    def policy() -> Response:
        data = _body()
        if set(data) == {"region"}:
            new = resolve_policy(_text(data, "region"))
        else:
            new = resolve_policy(data)
        with books().lock:
            books().policy = new
        return jsonify({"ok": True, "region": new.region})

    @bp.get("/policy")
    def get_policy() -> Response:
        return jsonify(books().policy.to_mapping())

    @bp.post("/catalog")
    def catalog() -> tuple[Response, int]:
        entry = CatalogEntry.from_mapping(_body())
        books().add_catalog(entry)
        return jsonify({"ok": True, "med_list_codg": entry.med_list_codg}), 201

    @bp.post("/persons")
    def persons() -> tuple[Response, int]:
        person = person_from_mapping(_body())
        books().add_person(person)
        return jsonify({"ok": True, "psn_no": person.psn_no}), 201

    @bp.post("/filings")
    def filings() -> tuple[Response, int]:
        with books().lock:
            add_filing(books(), _body())
        return jsonify({"ok": True}), 201

    @bp.post("/prescriptions")
    def prescriptions() -> tuple[Response, int]:
        with books().lock:
            rx = add_prescription(books(), _body())
        return jsonify({"ok": True, "hi_rxno": rx.hi_rxno}), 201

    @bp.post("/faults")
    def add_fault() -> tuple[Response, int]:
        fault = fault_from_mapping(_body())
        faults().add(fault)
        return jsonify({"ok": True, "pending": faults().pending()}), 201

    @bp.delete("/faults")
    def clear_faults() -> Response:
        faults().clear()
        return jsonify({"ok": True})

    @bp.get("/ledger")
    def ledger() -> Response:
        out = books().ledger()
        out["faults"] = faults().pending()
        return jsonify(out)

    return bp


__all__ = ["create_admin_blueprint", "person_from_mapping", "add_filing", "add_prescription", "fault_from_mapping"]
