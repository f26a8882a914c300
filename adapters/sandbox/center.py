"""The simulated insurer gateway: the endpoint(s) taking the docs/gateway.md envelope, dispatching on ``infno`` to
the handlers (signin.py, persons.py, filings.py, catalogue.py, settle.py, rxplatform.py, uploads.py,
reconcile.py), and the ONE renderer that writes every answer the way the active variants say (gateway.py).

Like a real gateway it answers HTTP 200 with an envelope for every message it can read: ``infcode -1``, a Chinese
``err_msg``, ``output`` null and ``inf_refmsgid`` null for anything it refuses (never a 500); a message it cannot
route (unknown ``infno``, or a path the profile reserves for another transaction) gets the bare error envelope
``{"type":"error","infcode":-1,"err_msg":…}``. The paths served are the active profile's (its single endpoint and
its per-service paths) plus its e-voucher decode path (evoucher.py). Faults (faults.py) are applied around dispatch,
so every transaction can be made to time out, fail, or lose its answer after committing.

Handlers return Python values (Decimal money, None for empty); ``render`` applies the variants: charset, ``output``
as a JSON string, ``infcode`` as a string, ``""`` for null, money as strings, unknown extra fields. Money is written
from the Decimal's own digits, never through a binary float. With an ``SmCrypto`` (a 国密 province) the answer is
sealed after the variants and before it is written.
"""
from __future__ import annotations

import json
import socket
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from adapters.nhsa.smcrypto import SmCrypto
from adapters.sandbox import (catalogue, filings, persons, reconcile, rxplatform, settle,  # noqa: F401
                              signin, uploads)  # (register handlers)
from adapters.sandbox import files  # noqa: F401  (registers 9101/9102)
from adapters.sandbox.files import FileAnswer
from adapters.sandbox.books import Books
from adapters.sandbox.evoucher import decode
from adapters.sandbox.faults import Fault, FaultBoard
from adapters.sandbox.gateway import GatewaySetup, Variants
from adapters.sandbox.intake import SIGN_IN_INVALID, admit
from adapters.sandbox.messages import COMMITTING, HANDLERS, SAYS_SUCCESS, Message, Refusal
from adapters.sandbox.traffic import MessageLog

GATEWAY_PATH = "/fsi/api/rsfComIfsService/callService"
#: Unknown fields a real gateway may add anywhere (docs/gateway.md "Reading answers"); readers must ignore them.
_EXTRAS = {"exp_content": '{"crtYearBalc":0,"calYearBalc":0}', "expContent": '{"ext":"1"}',
           "hifdm_pay": Decimal("0.00"), "psn_insu_rlts_id": "3601000000000000000000000001"}


# -- answers --------------------------------------------------------------------------------------------------------
def answer(books: Books, admdvs: str, *, output: dict[str, Any] | None = None, infcode: int = 0,
           err_msg: str | None = None) -> dict[str, Any]:
    """The answer envelope with the real field set; on a refusal ``output`` and ``inf_refmsgid`` are null."""
    now = books.now()
    admdvs = admdvs if len(admdvs) == 6 and admdvs.isdigit() else str(getattr(books.policy, "admdvs", "") or "000000")
    stamp = now.strftime("%Y%m%d%H%M%S%f")[:17]
    refused = infcode != 0
    return {"infcode": infcode,
            "inf_refmsgid": None if refused else f"{admdvs}{now.strftime('%Y%m%d%H%M%S')}{books.next_serial():010d}",
            "refmsg_time": stamp, "respond_time": stamp, "err_msg": err_msg, "warn_msg": None, "cainfo": None,
            "signtype": None, "output": None if refused else output}


def minimal_refusal(err_msg: str) -> dict[str, Any]:
    """The bare error envelope of a message the gateway cannot route (no output, ids or times)."""
    return {"type": "error", "infcode": -1, "err_msg": err_msg}


def dump(value: Any) -> str:
    """JSON text with every Decimal written as a JSON number from its own digits (never a float)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _transform(value: Any, variants: Variants) -> Any:
    if isinstance(value, dict):
        out = {k: _transform(v, variants) for k, v in value.items()}
        if variants.extra_fields:
            for key, extra in _EXTRAS.items():
                out.setdefault(key, _transform(extra, variants))
        return out
    if isinstance(value, list):
        return [_transform(v, variants) for v in value]
    if value is None and not variants.nulls:
        return ""
    if isinstance(value, Decimal) and not variants.numbers_for_money:
        return format(value, "f")
    return value


def render(body: dict[str, Any], variants: Variants, crypto: SmCrypto | None = None) -> Response:
    """The one place an answer becomes bytes: the variants applied, sealed when the province protects answers."""
    shaped = _transform(body, variants)
    if variants.output_as_string and isinstance(shaped.get("output"), dict):
        shaped["output"] = dump(shaped["output"])
    if variants.infcode_as_string and "infcode" in shaped:
        shaped["infcode"] = str(shaped["infcode"])
    if crypto is not None and crypto.active:
        text = json.dumps(crypto.seal_answer(json.loads(dump(shaped))), ensure_ascii=False)
    else:
        text = dump(shaped)
    data, content_type = variants.encoded(text)
    return Response(data, content_type=content_type)


# -- dispatch -------------------------------------------------------------------------------------------------------
def dispatch(books: Books, msg: Message) -> dict[str, Any] | None:
    """Run one message under the books' lock; a committing msgid seen before answers its first result again."""
    handler = HANDLERS[msg.infno]
    with books.lock:
        if msg.infno in COMMITTING:
            seen = books.processed.get(msg.msgid)
            if seen is not None:
                if seen.infno != msg.infno:
                    raise Refusal(f"发送方报文ID[msgid]{msg.msgid}重复")
                if seen.reversed:
                    raise Refusal(f"报文ID[{msg.msgid}]对应的交易已冲正")
                return seen.output
            if msg.msgid in books.reversed_unseen:
                raise Refusal(f"报文ID[{msg.msgid}]已被冲正，不能再办理")
        return handler(books, msg)


def abort_connection() -> Response:
    """Lose the answer: shut the socket so the client reads EOF with no response (an empty reply). Writing the
    returned response then finds the connection closed, which the server treats as a dropped client. The socket
    is the one server.py puts in the environ (``sandbox.socket``; werkzeug's own key is read too)."""
    sock = request.environ.get("sandbox.socket") or request.environ.get("werkzeug.socket")
    if sock is None:  # another WSGI server: an HTTP error without an envelope still leaves the outcome unknown
        return Response("<html>502 Bad Gateway</html>", status=502, content_type="text/html")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    return Response(b"", status=200)


def _with_fault(books: Books, faults: FaultBoard, msg: Message, fault: Fault | None) -> dict[str, Any] | FileAnswer:
    admdvs = msg.field("mdtrtarea_admvs")
    if fault is not None:
        if fault.mode == "error":
            raise Refusal(fault.err_msg or "医保中心系统繁忙，请稍后再试（模拟故障）")
        if fault.mode == "timeout":
            faults.sleep(fault.delay_s)
            raise Refusal("医保中心处理超时（模拟故障），交易未办理")
        if fault.mode == "sign_in_expired":
            with books.lock:
                for s in books.sign_ins:
                    if s["fixmedins_code"] == msg.field("fixmedins_code"):
                        s["valid"] = False
            raise Refusal(SIGN_IN_INVALID)
        if fault.mode == "slow":
            faults.sleep(fault.delay_s)
    output = dispatch(books, msg)
    if isinstance(output, FileAnswer):   # 9102: the file itself is the answer, not an envelope
        return output
    return answer(books, admdvs, output=output, err_msg="success" if msg.infno in SAYS_SUCCESS else None)


def _gateway(path: str) -> Response:
    books: Books = current_app.extensions["sandbox.books"]
    faults: FaultBoard = current_app.extensions["sandbox.faults"]
    setup: GatewaySetup = current_app.extensions["sandbox.gateway"]
    log: MessageLog = current_app.extensions["sandbox.messages"]
    crypto: SmCrypto | None = current_app.extensions.get("sandbox.crypto")
    raw, variants = request.get_data(), setup.variants
    envelope: dict[str, Any] = {}
    try:
        parsed = json.loads(raw.decode("utf-8"))
        envelope = parsed if isinstance(parsed, dict) else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    fault = None
    try:
        headers = {k.lower(): v for k, v in request.headers.items()}   # header names are case-insensitive
        msg = admit(raw, path=path, headers=headers, setup=setup, books=books, crypto=crypto)
        fault = faults.take(msg.wire_infno) or (faults.take(msg.infno) if msg.infno != msg.wire_infno else None)
        body = _with_fault(books, faults, msg, fault)
    except Refusal as exc:
        log.record(at=books.now(), infno=envelope.get("infno"), msgid=envelope.get("msgid"), path=path,
                   accepted=False, err_msg=exc.err_msg)
        if exc.minimal:
            return render(minimal_refusal(exc.err_msg), variants)
        admdvs = envelope.get("mdtrtarea_admvs")
        return render(answer(books, admdvs if isinstance(admdvs, str) else "", infcode=exc.infcode,
                             err_msg=exc.err_msg), variants, crypto)
    log.record(at=books.now(), infno=msg.wire_infno, msgid=msg.msgid, path=path, accepted=True)
    if fault is not None and fault.mode == "drop_response":
        return abort_connection()
    response = (Response(body.content, content_type=body.content_type) if isinstance(body, FileAnswer)
                else render(body, variants, crypto))
    if fault is not None and fault.mode == "corrupt":
        data = response.get_data()
        return Response(data[: max(1, len(data) // 2)], content_type=response.content_type)
    return response


def create_gateway_blueprint() -> Blueprint:
    """Every POST outside ``/sandbox/``: a gateway path of the active profile, its e-voucher decode path, or a
    404 JSON error (the profile can change at run time, so the paths are looked up per request)."""
    bp = Blueprint("sandbox_gateway", __name__)

    @bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def gateway(rest: str) -> Response | tuple[Response, int]:
        setup: GatewaySetup = current_app.extensions["sandbox.gateway"]
        path = "/" + rest
        served = path == setup.profile.evoucher.path or setup.serves(path)
        if served and request.method == "POST":
            return decode() if path == setup.profile.evoucher.path else _gateway(path)
        if served:
            return jsonify({"error": {"code": "METHOD_NOT_ALLOWED", "message": "Gateway paths take POST only.",
                                      "message_zh": "医保接口只接受POST请求。", "details": {}}}), 405
        return jsonify({"error": {"code": "NOT_FOUND", "message": f"No path {path[:100]} here.",
                                  "message_zh": "请求地址不存在。", "details": {}}}), 404

    return bp
