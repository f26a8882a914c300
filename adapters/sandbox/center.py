"""The simulated insurer gateway: one endpoint at the gateway path taking the docs/gateway.md envelope, dispatching on
``infno`` to the handlers of queries.py, settle.py, uploads.py, reconcile.py and rxplatform.py.

Like a real gateway it answers HTTP 200 with an envelope for every message it can read, ``infcode -1`` and a
Chinese ``err_msg`` for anything it refuses (never a 500). Faults (faults.py) are applied here, around dispatch,
so every transaction can be made to time out, fail, or lose its answer after committing.

When configured with an ``SmCrypto`` (insurer side, adapters/nhsa/smcrypto.py) it behaves like a province that
requires 国密: it refuses a request whose SM3/SM2 ``cainfo`` does not verify or whose body does not decrypt, and
encrypts and signs its answers the same way, so tests prove the round trip over real HTTP.
"""
from __future__ import annotations

import json
import socket
from typing import Any

from flask import Blueprint, Response, current_app, request

from adapters.nhsa.smcrypto import SmCrypto, SmCryptoError
from adapters.sandbox import queries, reconcile, rxplatform, settle, uploads  # noqa: F401  (register handlers)
from adapters.sandbox.books import Books
from adapters.sandbox.faults import Fault, FaultBoard
from adapters.sandbox.messages import COMMITTING, HANDLERS, Message, Refusal

GATEWAY_PATH = "/fsi/api/rsfComIfsService/callService"


def answer(books: Books, msg_admdvs: str, *, output: dict[str, Any] | None = None, infcode: int = 0,
           err_msg: str = "") -> dict[str, Any]:
    now = books.now()
    admdvs = (msg_admdvs if len(msg_admdvs) == 6 and msg_admdvs.isdigit() else
              str(getattr(books.policy, "admdvs", "") or "000000"))
    return {"infcode": infcode, "err_msg": err_msg, "warn_msg": "",
            "inf_refmsgid": f"{admdvs}{now.strftime('%Y%m%d%H%M%S')}{books.next_serial():010d}",
            "refmsg_time": now.strftime("%Y%m%d%H%M%S%f")[:17], "respond_time": now.strftime("%Y%m%d%H%M%S%f")[:17],
            "output": output if infcode == 0 else None}


def read_message(raw: bytes, crypto: SmCrypto | None = None) -> Message:
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Refusal("报文格式错误，不是有效的JSON") from None
    if not isinstance(envelope, dict):
        raise Refusal("报文格式错误")
    infno, msgid = str(envelope.get("infno") or "").strip(), str(envelope.get("msgid") or "").strip()
    if not infno:
        raise Refusal("交易编号[infno]不能为空")
    if len(msgid) != 30:
        raise Refusal("报文ID[msgid]不能为空且必须为30位")
    if not str(envelope.get("fixmedins_code") or "").strip():
        raise Refusal("定点医药机构编号[fixmedins_code]不能为空")
    if crypto is not None:
        try:
            envelope = crypto.open_request(envelope)
        except SmCryptoError as exc:
            raise Refusal(exc.message_zh) from None
    if not isinstance(envelope.get("input"), dict):
        raise Refusal("交易输入[input]不能为空")
    return Message(infno=infno[:4], msgid=msgid, envelope=envelope)


def dispatch(books: Books, msg: Message) -> dict[str, Any]:
    """Run one message under the books' lock; a committing msgid seen before answers its first result again."""
    handler = HANDLERS.get(msg.infno)
    if handler is None:
        raise Refusal(f"交易编号[{msg.infno}]不存在或未开通")
    if msg.data.get("psn_no") and not msg.field("insuplc_admdvs").strip():
        raise Refusal("参保地医保区划[insuplc_admdvs]不能为空")
    with books.lock:
        if msg.infno in COMMITTING:
            seen = books.processed.get(msg.msgid)
            if seen is not None:
                if seen.infno != msg.infno:
                    raise Refusal(f"报文ID[{msg.msgid}]重复")
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


def _json(body: dict[str, Any], crypto: SmCrypto | None = None) -> Response:
    if crypto is not None:
        body = crypto.seal_answer(body)
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=utf-8")


def create_gateway_blueprint(path: str = GATEWAY_PATH) -> Blueprint:
    bp = Blueprint("sandbox_gateway", __name__)

    @bp.post(path)
    def gateway() -> Response:
        books: Books = current_app.extensions["sandbox.books"]
        faults: FaultBoard = current_app.extensions["sandbox.faults"]
        crypto: SmCrypto | None = current_app.extensions.get("sandbox.crypto")
        admdvs = ""
        try:
            msg = read_message(request.get_data(), crypto)
            admdvs = msg.field("mdtrtarea_admvs")
            fault = faults.take(msg.infno)
            body = _with_fault(books, faults, msg, fault)
        except Refusal as exc:
            return _json(answer(books, admdvs, infcode=exc.infcode, err_msg=exc.err_msg), crypto)
        if fault is not None and fault.mode == "drop_response":
            return abort_connection()
        if fault is not None and fault.mode == "corrupt":
            text = json.dumps(body, ensure_ascii=False)
            return Response(text[: max(1, len(text) // 2)], content_type="application/json;charset=utf-8")
        return _json(body, crypto)

    return bp


def _with_fault(books: Books, faults: FaultBoard, msg: Message, fault: Fault | None) -> dict[str, Any]:
    admdvs = msg.field("mdtrtarea_admvs")
    if fault is not None:
        if fault.mode == "error":
            raise Refusal(fault.err_msg or "医保中心系统繁忙，请稍后再试（模拟故障）")
        if fault.mode == "timeout":
            faults.sleep(fault.delay_s)
            raise Refusal("医保中心处理超时（模拟故障），交易未办理")
        if fault.mode == "slow":
            faults.sleep(fault.delay_s)
    return answer(books, admdvs, output=dispatch(books, msg))
