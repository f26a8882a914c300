"""The sandbox admin API (docs/sandbox.md, a contract): seed the insurer's books in the gateway's own record shapes,
choose the gateway profile and the answer variants, change the policy, arm faults, read the books and the message
log. JSON only, served only by the sandbox app. Every refusal is ``400 {"error": {code, message, message_zh,
details.field}}`` — the same error shape as rxlane's own API (``plugin/errors.py``) — and no body produces a 500.

Views are thin: each parses its body with the module that owns the record (persons.py, filings.py,
catalogue.py, prescriptions.py) and changes the books under their lock.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from plugin.errors import InvalidInput, RxlaneError

from adapters.sandbox import bodies
from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.books import Books
from adapters.sandbox.catalogue import add_catalog
from adapters.sandbox.faults import MODES, Fault, FaultBoard
from adapters.sandbox.filings import add_filing
from adapters.sandbox.gateway import GatewaySetup, Variants, profile_named
from adapters.sandbox.persons import add_person
from adapters.sandbox.prescriptions import add_prescription
from adapters.sandbox.traffic import MessageLog

_INFNO = re.compile(r"\d{4}[A-Z]?")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", "请求体必须是 JSON 对象。", field="body")
    return data


def fault_from_mapping(d: dict[str, Any]) -> Fault:
    infno = bodies.text(d, "infno", pattern=_INFNO)
    mode = bodies.text(d, "mode", choices=MODES)
    times, delay = d.get("times", 1), d.get("delay_ms")
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise InvalidInput("times: must be a whole number of at least 1.", "字段 times：必须是正整数。", field="times")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 600000):
        raise InvalidInput("delay_ms: must be a whole number 0–600000.", "字段 delay_ms：必须是 0–600000 的整数。",
                           field="delay_ms")
    err_msg = d.get("err_msg") or ""
    if not isinstance(err_msg, str) or len(err_msg) > 200:
        raise InvalidInput("err_msg: must be a string of at most 200 characters.",
                           "字段 err_msg：必须是不超过200字的字符串。", field="err_msg")
    return Fault(infno=infno, mode=mode, times=times, delay_ms=delay, err_msg=err_msg)


def create_admin_blueprint() -> Blueprint:
    bp = Blueprint("sandbox_admin", __name__, url_prefix="/sandbox")

    def books() -> Books:
        return current_app.extensions["sandbox.books"]

    def faults() -> FaultBoard:
        return current_app.extensions["sandbox.faults"]

    def setup() -> GatewaySetup:
        return current_app.extensions["sandbox.gateway"]

    def log() -> MessageLog:
        return current_app.extensions["sandbox.messages"]

    @bp.errorhandler(RxlaneError)
    def _refused(exc: RxlaneError) -> tuple[Response, int]:
        return jsonify(exc.to_body()), exc.http_status

    @bp.post("/reset")
    def reset() -> Response:
        from adapters.sandbox.demo import load_demo
        raw = request.get_data()
        data = request.get_json(silent=True) if raw.strip() else {}
        if not isinstance(data, dict):
            raise InvalidInput("The body must be a JSON object.", "请求体必须是 JSON 对象。", field="body")
        demo = bodies.flag(data, "demo", default=False)
        with books().lock:
            books().reset()
            faults().clear()
            log().clear()
            with setup().lock:
                setup().variants = Variants()
            if demo:
                load_demo(books())
        return jsonify({"ok": True, "demo": bool(demo)})

    @bp.put("/policy")
    def policy() -> Response:
        data = _body()
        new = resolve_policy(bodies.text(data, "region")) if set(data) == {"region"} else resolve_policy(data)
        with books().lock:
            books().policy = new
        return jsonify({"ok": True, "region": new.region})

    @bp.get("/policy")
    def get_policy() -> Response:
        return jsonify(books().policy.to_mapping())

    @bp.put("/profile")
    def profile() -> Response:
        new = profile_named(_body().get("name"))
        with setup().lock:
            setup().profile = new
        return jsonify({"ok": True, "name": new.name, "title": new.title})

    @bp.get("/profile")
    def get_profile() -> Response:
        current = setup().profile
        return jsonify({"name": current.name, "title": current.title})

    @bp.post("/variants")
    def variants() -> Response:
        with setup().lock:
            setup().variants = setup().variants.updated(_body())
            return jsonify(setup().variants.to_json())

    @bp.get("/variants")
    def get_variants() -> Response:
        return jsonify(setup().variants.to_json())

    @bp.post("/catalog")
    def catalog() -> tuple[Response, int]:
        record = add_catalog(books(), _body())
        return jsonify({"ok": True, "hilist_code": record.entry.med_list_codg,
                        "med_list_codg": record.entry.med_list_codg}), 201

    @bp.post("/persons")
    def persons() -> tuple[Response, int]:
        person = add_person(books(), _body())
        return jsonify({"ok": True, "psn_no": person.psn_no}), 201

    @bp.post("/filings")
    def filings() -> tuple[Response, int]:
        record = add_filing(books(), _body())
        return jsonify({"ok": True, "opsp_dise_code": record.filing.disease_code}), 201

    @bp.post("/prescriptions")
    def prescriptions() -> tuple[Response, int]:
        record = add_prescription(books(), _body())
        return jsonify({"ok": True, "hi_rxno": record.hi_rxno}), 201

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

    @bp.get("/messages")
    def messages() -> Response:
        return jsonify({"messages": log().entries()})

    return bp


__all__ = ["create_admin_blueprint", "fault_from_mapping"]
