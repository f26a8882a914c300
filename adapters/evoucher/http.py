"""The HTTP variant of the e-voucher decode (docs/gateway.md "E-voucher"): ``POST …/localQrCodeQuery`` with a bare
JSON body (no gateway envelope) ``{orgId, businessType, operatorId, operatorName, officeId, officeName, deviceType,
ecQrCode, termId, termIp, businessInfo}``; the answer ``{code, message, data:{ecToken, idNo, idType, userName,
insuOrg, …}}`` — ``data`` may also arrive as a JSON string, as the SDK's does.

Errors: ``EVoucherRefused`` (the service answered ``code`` ≠ 0: its ``message`` kept) and ``EVoucherUnavailable``
(not reachable, or an answer that cannot be read). Decoding moves no money, so nothing here is journaled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.reading import decode_body, output_object, text


class EVoucherError(Exception):
    message = "The e-voucher could not be decoded."
    message_zh = "医保电子凭证解码失败。"


class EVoucherRefused(EVoucherError):
    """The decode service said no (an unknown, expired or used QR code). ``code``/``reason`` are its own."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"e-voucher refused ({code})")
        self.code = code
        self.reason = reason


class EVoucherUnavailable(EVoucherError):
    message = "The e-voucher service cannot be reached or answered unreadably."
    message_zh = "医保电子凭证服务暂时无法使用，请稍后重试或改用身份证/社保卡。"


@dataclass(frozen=True)
class Identity:
    """What a decode gives: ``ec_token`` (the 就诊凭证 for 1101/2101/2102, short-lived) and the person."""
    ec_token: str
    id_no: str
    id_type: str
    user_name: str
    insu_org: str


@dataclass
class EVoucherSettings:
    url: str
    org_id: str
    operator_id: str = ""
    operator_name: str = ""
    business_type: str = "02121"
    term_ip: str = ""
    timeout_s: float = 10
    verify: bool | str = True
    session: requests.Session = field(default_factory=requests.Session, repr=False)


def decode_request(s: EVoucherSettings, qr: str) -> dict[str, Any]:
    return {"orgId": s.org_id, "businessType": s.business_type, "operatorId": s.operator_id,
            "operatorName": s.operator_name, "officeId": "", "officeName": "", "deviceType": "", "ecQrCode": qr,
            "termId": "", "termIp": s.term_ip, "businessInfo": ""}


def parse_decode(raw: Any) -> Identity:
    """The service's answer → Identity, or EVoucherRefused / EVoucherUnavailable."""
    if not isinstance(raw, dict) or "code" not in raw:
        raise EVoucherUnavailable("e-voucher answer without a code")
    code = str(raw.get("code")).strip()
    if code not in ("0", "0000"):
        raise EVoucherRefused(code, str(raw.get("message") or "")[:200])
    try:
        data = output_object(raw.get("data"))
    except GatewayProtocolError:
        raise EVoucherUnavailable("e-voucher answer data unreadable") from None
    data = {str(k).lower(): v for k, v in (data or {}).items()}
    token = text(data, "ectoken")
    if not token:
        raise EVoucherUnavailable("e-voucher answer without ecToken")
    return Identity(ec_token=token, id_no=text(data, "idno"), id_type=text(data, "idtype") or "01",
                    user_name=text(data, "username"), insu_org=text(data, "insuorg"))


def decode(s: EVoucherSettings, qr: str) -> Identity:
    """Decode one QR value over HTTP."""
    body = json.dumps(decode_request(s, qr), ensure_ascii=False).encode("utf-8")
    try:
        resp = s.session.post(s.url, data=body, timeout=s.timeout_s, verify=s.verify,
                              headers={"Content-Type": "application/json;charset=utf-8"})
        raw = json.loads(decode_body(resp.content, resp.headers.get("Content-Type")))
    except (requests.RequestException, ValueError, OSError, GatewayProtocolError):
        raise EVoucherUnavailable("e-voucher service unreachable or unreadable") from None
    return parse_decode(raw)
