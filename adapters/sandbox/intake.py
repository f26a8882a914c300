"""What the strict gateway double accepts: the checks every message passes before a handler sees it.

A real gateway refuses a message whose envelope or input does not match its interface, with ``infcode -1`` and a
Chinese ``err_msg`` naming the field (docs/gateway.md "Request envelope"); so does the sandbox, against the active
gateway profile (config/gateways/<name>.toml), in this order:

1. the body is a UTF-8 JSON object; the gateway authentication headers verify where the profile asks for them
   and the sandbox was given the secret (``x-ca-sm3``: HMAC-SM3 over the exact body bytes; ``x-tif``: the PaaS
   signature; ``apikey``); a 国密 envelope opens (smcrypto.py);
2. ``infno`` names a transaction this gateway serves (a province's lettered number such as ``3505A`` runs the
   handler of its logical number), and the request path is the profile's single endpoint or the one the profile
   assigns to this transaction — otherwise the bare error envelope ("未知交易编号");
3. ``msgid`` is present and at most 30 characters (only uniqueness and length are enforced by real gateways);
4. the envelope fields: institution code and name, operator, operator name and type, ``inf_time``
   (``yyyy-MM-dd HH:mm:ss``), ``mdtrtarea_admvs`` (6 digits), ``infver`` and ``recer_sys_code`` as the profile
   says (``recer_sys_code`` by transaction and by the insutype of the input, or of the person it names);
5. ``input`` is an object; every transaction but 9001 carries a ``sign_no`` that 9001 issued to this institution
   today and that is still valid;
6. the input matches the profile's message spec (node name and shape, required fields; the first problem is the
   err_msg), and ``insuplc_admdvs`` is present when the input names a person (``psn_no``).
"""
from __future__ import annotations

import hmac
import json
import re
from datetime import datetime
from typing import Any
from collections.abc import Mapping

from adapters.nhsa.profile import GatewayProfile, check_input
from adapters.nhsa.signing import hmac_sm3_hex, signature
from adapters.nhsa.smcrypto import SmCrypto, SmCryptoError
from adapters.sandbox.books import Books
from adapters.sandbox.gateway import GatewaySetup
from adapters.sandbox.messages import HANDLERS, Message, Refusal

SIGN_IN_INVALID = "未签到或签到已失效，请重新签到"
_ADMDVS = re.compile(r"\d{6}")
_INF_TIME = "%Y-%m-%d %H:%M:%S"
#: Envelope text fields every message carries: (name, Chinese name, maximum length).
_ENVELOPE_TEXT = (("fixmedins_name", "定点医药机构名称", 200), ("opter", "经办人", 30),
                  ("opter_name", "经办人姓名", 50), ("opter_type", "经办人类别", 3))
_OPTER_TYPES = ("1", "2", "3")


def logical_infno(profile: GatewayProfile, wire: str) -> str | None:
    """The handler's transaction for a wire infno ("3505A" → "3505"), or None when this gateway has none."""
    for logical in {*profile.infnos, "3505"}:
        if profile.wire_infno(logical) == wire and logical in HANDLERS:
            return logical
    if wire in HANDLERS:
        return wire
    if wire[:4] in HANDLERS and profile.message(wire) is not None:
        return wire[:4]
    return None


def _envelope_of(raw: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Refusal("报文格式错误：请求体不是有效的UTF-8 JSON") from None
    if not isinstance(envelope, dict):
        raise Refusal("报文格式错误：请求体必须是JSON对象")
    return envelope


def _field(envelope: dict[str, Any], name: str, zh: str, limit: int, *, required: bool = True) -> str:
    value = envelope.get(name)
    if value is None or value == "":
        if required:
            raise Refusal(f"{zh}[{name}]不能为空")
        return ""
    if not isinstance(value, str):
        raise Refusal(f"{zh}[{name}]格式不正确，应为字符串")
    if not value.strip():
        raise Refusal(f"{zh}[{name}]不能为空")
    if len(value) > limit:
        raise Refusal(f"{zh}[{name}]长度不能超过{limit}位")
    return value.strip()


def _authenticate(setup: GatewaySetup, headers: Mapping[str, str], raw: bytes, fixmedins_code: str) -> None:
    auth, secret = setup.profile.transport.auth, setup.secret
    if not secret or auth == "none":
        return
    if auth == "x-ca-sm3":
        if headers.get("x-ca-key", "") != fixmedins_code:
            raise Refusal("网关认证失败：请求头[x-ca-key]应为定点医药机构编号")
        stamp, _, mac = headers.get("x-ca-signature", "").partition(":")
        expected = hmac_sm3_hex(secret, stamp.encode("utf-8") + b"\n" + raw)
        if not stamp.isdigit() or not hmac.compare_digest(mac.upper(), expected):
            raise Refusal("网关认证失败：签名[x-ca-signature]校验不通过")
    elif auth == "x-tif":
        stamp, nonce = headers.get("x-tif-timestamp", ""), headers.get("x-tif-nonce", "")
        if not headers.get("x-tif-paasid") or not stamp or not nonce:
            raise Refusal("网关认证失败：缺少请求头[x-tif-paasid/x-tif-timestamp/x-tif-nonce]")
        if not hmac.compare_digest(headers.get("x-tif-signature", "").lower(), signature(stamp, secret, nonce)):
            raise Refusal("网关认证失败：签名[x-tif-signature]校验不通过")
    elif auth == "apikey" and not hmac.compare_digest(headers.get("apikey", ""), secret):
        raise Refusal("网关认证失败：请求头[apikey]不正确")


def _infnos(setup: GatewaySetup, envelope: dict[str, Any], path: str) -> tuple[str, str]:
    wire = envelope.get("infno")
    if wire is None or wire == "":
        raise Refusal("交易编号[infno]不能为空")
    if not isinstance(wire, str) or len(wire) > 6:
        raise Refusal("交易报文不正确：交易编号[infno]格式不正确", minimal=True)
    wire = wire.strip()
    logical = logical_infno(setup.profile, wire)
    if logical is None:
        raise Refusal(f"交易报文不正确：未知交易编号！交易编号[infno]{wire}", minimal=True)
    assigned = setup.path_infnos(path)
    if assigned and wire not in assigned:
        raise Refusal(f"交易报文不正确：未知交易编号！交易编号[infno]{wire}不属于该服务地址", minimal=True)
    return wire, logical


def _insutype_of(books: Books, head: dict[str, Any]) -> str:
    """The insutype a message concerns: the input's own, else that of the person it names."""
    insutype = head.get("insutype")
    if isinstance(insutype, (str, int)) and not isinstance(insutype, bool) and str(insutype).strip():
        return str(insutype).strip()
    psn_no = head.get("psn_no")
    person = books.persons.get(psn_no) if isinstance(psn_no, str) else None
    return person.insutype if person is not None else ""


def _signed_in(books: Books, sign_no: Any, fixmedins_code: str) -> bool:
    if not isinstance(sign_no, str) or not sign_no:
        return False
    today = books.today()
    return any(s["sign_no"] == sign_no and s["fixmedins_code"] == fixmedins_code and s["day"] == today
               and s["valid"] for s in books.sign_ins)


def admit(raw: bytes, *, path: str, headers: Mapping[str, str], setup: GatewaySetup, books: Books,
          crypto: SmCrypto | None = None) -> Message:
    """The message, once every check in the module docstring passed; else ``Refusal``. ``headers`` has lower-case
    names."""
    envelope = _envelope_of(raw)
    wire, logical = _infnos(setup, envelope, path)
    envelope = validate(envelope, wire=wire, logical=logical, setup=setup, books=books, raw=raw, headers=headers,
                        crypto=crypto)
    return Message(infno=logical, msgid=envelope["msgid"], envelope=envelope, wire_infno=wire, path=path,
                   profile=setup.profile)


def validate(envelope: dict[str, Any], *, wire: str, logical: str, setup: GatewaySetup, books: Books,
             raw: bytes = b"", headers: Mapping[str, str] | None = None,
             crypto: SmCrypto | None = None) -> dict[str, Any]:
    """Checks 3–6 of the module docstring on an envelope already routed to ``wire`` (``logical``); returns the
    envelope (opened, where a 国密 province seals it)."""
    profile = setup.profile
    msgid = envelope.get("msgid")
    if msgid is None or (isinstance(msgid, str) and not msgid.strip()):
        raise Refusal("发送方报文ID[msgid]不能为空")
    if not isinstance(msgid, str):
        raise Refusal("发送方报文ID[msgid]格式不正确，应为字符串")
    if len(msgid) > 30:
        raise Refusal("发送方报文ID[msgid]长度不能超过30位")
    fixmedins_code = _field(envelope, "fixmedins_code", "定点医药机构编号", 30)
    _authenticate(setup, headers or {}, raw, fixmedins_code)
    if crypto is not None:
        try:
            envelope = crypto.open_request(envelope)
        except SmCryptoError as exc:
            raise Refusal(exc.message_zh) from None
    for name, zh, limit in _ENVELOPE_TEXT:
        _field(envelope, name, zh, limit)
    if envelope["opter_type"].strip() not in _OPTER_TYPES:
        raise Refusal("经办人类别[opter_type]值不正确，应为1、2或3")
    inf_time = _field(envelope, "inf_time", "交易时间", 19)
    try:
        datetime.strptime(inf_time, _INF_TIME)
    except ValueError:
        raise Refusal("交易时间[inf_time]格式不正确，应为yyyy-MM-dd HH:mm:ss") from None
    if not _ADMDVS.fullmatch(_field(envelope, "mdtrtarea_admvs", "就医地医保区划", 6)):
        raise Refusal("就医地医保区划[mdtrtarea_admvs]应为6位数字")
    if _field(envelope, "infver", "接口版本号", 6) != profile.envelope.infver:
        raise Refusal(f"接口版本号[infver]不正确，应为{profile.envelope.infver}")
    recer = _field(envelope, "recer_sys_code", "接收方系统代码", 10)
    inp = envelope.get("input")
    if not isinstance(inp, dict):
        raise Refusal("交易输入[input]不能为空且必须为JSON对象")
    spec = profile.message(wire)
    node = inp.get(spec.node) if spec is not None else inp.get("data")
    head = node if isinstance(node, dict) else {}
    expected = profile.recer_sys_code(logical, _insutype_of(books, head))
    if recer != expected:
        raise Refusal(f"接收方系统代码[recer_sys_code]不正确，应为{expected}")
    if logical != "9001" and not _signed_in(books, envelope.get("sign_no"), fixmedins_code):
        raise Refusal(SIGN_IN_INVALID)
    if spec is not None:
        problems = check_input(spec, inp)
        if problems:
            raise Refusal(problems[0])
    if head.get("psn_no") not in (None, "") and not str(envelope.get("insuplc_admdvs") or "").strip():
        raise Refusal("参保地医保区划[insuplc_admdvs]不能为空")
    return envelope
