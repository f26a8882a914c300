"""The e-voucher (医保电子凭证) decode service's double, HTTP variant (docs/gateway.md "E-voucher"), served at the
active profile's ``evoucher.path`` (``/fsi/api/hsecfc/localQrCodeQuery``).

The QR value a scanner reads is not the token: the counter posts it here in a bare body (no FSI envelope)
``{orgId, businessType, operatorId, operatorName, officeId, officeName, deviceType, ecQrCode, termId, termIp,
businessInfo}`` and gets ``{code: 0, type, message, data: {ecToken, idNo, idType, userName, insuOrg, ecIndexNo,
gender, birthday, nationality, email, extData, chnlId, ecQrCode, authNo}}``. Every decode issues a fresh
``ecToken`` that 1101/2101/2102/7202 accept with ``mdtrt_cert_type`` 01 until it expires (the gateway setup's
token lifetime, an hour by default). An unknown QR value is refused as real services refuse it
(``{"code":500159,"success":false,"message":"请使用医保电子凭证二维码"}``); a body without ``orgId`` or
``ecQrCode`` is refused with code 500100 naming the field (this code is the sandbox's choice).
"""
from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from flask import Response, current_app, request

from adapters.sandbox.books import Books, EcToken
from adapters.sandbox.gateway import GatewaySetup
from adapters.sandbox.traffic import MessageLog

UNKNOWN_QR = {"code": 500159, "success": False, "message": "请使用医保电子凭证二维码"}
GENDER = {"1": "男", "2": "女"}


def _refused(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "success": False, "message": message}


def _decode(books: Books, setup: GatewaySetup, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return _refused(500100, "请求报文格式错误，应为JSON对象")
    for key, zh in (("orgId", "机构编码"), ("ecQrCode", "电子凭证二维码")):
        if not isinstance(body.get(key), str) or not body[key].strip():
            return _refused(500100, f"{zh}[{key}]不能为空")
    qr = body["ecQrCode"].strip()
    person = next((p for p in books.persons.values() if p.ecard_qr and p.ecard_qr == qr), None)
    if person is None:
        return dict(UNKNOWN_QR)
    insu_org = person.insuplc_admdvs
    token = f"{insu_org}ec{secrets.token_hex(15)}"
    books.ec_tokens[token] = EcToken(token, person.psn_no, books.now() + timedelta(seconds=setup.token_lifetime_s))
    base = person.baseinfo
    return {"code": 0, "type": "success", "message": "成功",
            "data": {"ecToken": token, "idNo": person.certno, "idType": base.get("psn_cert_type") or "01",
                     "userName": person.psn_name, "insuOrg": insu_org, "ecIndexNo": secrets.token_hex(16).upper(),
                     "gender": GENDER.get(str(base.get("gend") or ""), None),
                     "birthday": str(base.get("brdy") or "").replace("-", ".") or None, "nationality": "中国",
                     "email": None, "extData": None, "chnlId": secrets.token_hex(16).upper(), "ecQrCode": qr,
                     "authNo": None}}


def decode() -> Response:
    """The decode endpoint (registered by center.py for the profile's e-voucher path)."""
    books: Books = current_app.extensions["sandbox.books"]
    setup: GatewaySetup = current_app.extensions["sandbox.gateway"]
    log: MessageLog = current_app.extensions["sandbox.messages"]
    try:
        body = json.loads(request.get_data().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    with books.lock:
        answer = _decode(books, setup, body)
    log.record(at=books.now(), infno="ecQuery", msgid="", path=request.path, accepted=answer["code"] == 0,
               err_msg="" if answer["code"] == 0 else answer["message"])
    data, content_type = setup.variants.encoded(json.dumps(answer, ensure_ascii=False))
    return Response(data, content_type=content_type)
