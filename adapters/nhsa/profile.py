"""Gateway profiles: how one province's gateway wants its messages, as data (``config/gateways/<name>.toml``).

Provinces differ (docs/gateway.md, "Profiles"): the URL of each transaction, the authentication, ``recer_sys_code``
per transaction and insutype, the 2101/2102 input node, ``med_type``, the 2102 password in ``cainfo``, 3505 or
3505A, the 3202 file transport and column order, the answer charset, the e-voucher decode style. ``national`` is the
baseline; a province's file says ``extends = "national"`` and overrides only what differs (tables merge key by key,
lists and values replace).

The same profile drives both sides: the adapter builds every message from it and checks what it built against
``messages`` before anything leaves (``check_input``); the sandbox refuses a message that does not match it, the way
a real gateway does. Raises ``ProfileError`` (a ``ValueError``) naming the file and key for a bad profile.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROFILES_DIR = Path(__file__).resolve().parents[2] / "config" / "gateways"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")


class ProfileError(ValueError):
    """A profile that cannot be used; ``str(err)`` names the file and the key."""


def _check_patterns(patterns: Iterable[str]) -> None:
    """``ValueError`` naming the first of ``patterns`` that is not a regular expression (pydantic reports it as the
    field's error)."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Envelope(_Part):
    infver: str = "V1.0"
    opter_type: str = "1"
    recer_sys_code: str = "YBXT"
    recer_sys_code_by_infno: dict[str, str] = {}
    recer_sys_code_by_insutype: dict[str, str] = {}
    recer_sys_code_insutype_infnos: list[str] = []
    extra: dict[str, str] = {}
    money: Literal["string", "number"] = "string"


class Transport(_Part):
    path: str = "/fsi/api/rsfComIfsService/callService"
    paths: dict[str, str] = {}
    auth: Literal["none", "x-tif", "x-ca-sm3", "apikey"] = "none"
    answer_charset: Literal["utf-8", "gbk", "gb18030"] = "utf-8"


class SignIn(_Part):
    invalid_patterns: list[str] = []


class Settle(_Part):
    node: str = "druginfo"
    lines: str = "drugdetail"
    med_type: str = "41"
    dise_from_filing: bool = True
    password_in_cainfo: bool = False
    invoice_on_settle: bool = True


class EVoucher(_Part):
    style: Literal["http", "sdk"] = "http"
    path: str = "/fsi/api/hsecfc/localQrCodeQuery"
    business_type: str = "02121"


class Uploads(_Part):
    """3505 (one ``selinfo`` object per message) or 3505A (``selinfoDetail[]``, at most ``batch_size`` items); the
    form of the pack codes (``trace_form``); and ``permanent_patterns``: refusal texts no retry can change (the
    code already sold elsewhere, a field the insurer rejects) — such an upload is parked at once and shown, never
    retried blind (docs/reconciliation.md, "Refusals")."""
    sale_infno: Literal["3505", "3505A"] = "3505"
    batch_size: int = Field(default=50, ge=1, le=500)
    trace_form: Literal["list", "object", "single"] = "list"
    permanent_patterns: list[str] = []

    @field_validator("permanent_patterns")
    @classmethod
    def _compile(cls, value: list[str]) -> list[str]:
        _check_patterns(value)
        return value


class Reconcile(_Part):
    """3201/3202 (docs/reconciliation.md): ``clr_type`` when a settlement answer named none; 9101's ``in`` as a
    base64 string or a JSON array of bytes; the column order of the 9102 result file (sources disagree on columns 5
    and 6); the file's name inside the zip; whether 3202 also carries ``clr_type`` (some provinces ask for it)."""
    clr_type: str = "41"
    file_transport: Literal["base64", "bytes"] = "base64"
    result_columns: list[str] = ["psn_no", "mdtrt_id", "setl_id", "msgid", "stmt_rslt", "refd_setl_flag", "memo",
                                 "medfee_sumamt", "fund_pay_sumamt", "acct_pay"]
    result_file: str = "result.txt"
    clr_type_on_3202: bool = False

    @field_validator("result_columns")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        needed = {"setl_id", "stmt_rslt"}
        if not needed <= set(value):
            raise ValueError(f"result_columns must name {', '.join(sorted(needed))}")
        return value


class Reversal(_Part):
    """2601: a refusal saying the original message never arrived means nothing was done (the in-doubt sale ends
    reversed, or settled again for a cancellation); other refusals are retried at most ``max_attempts`` times
    automatically, then left for a person (``rxlane doctor --resolve``)."""
    not_found_patterns: list[str] = ["未找到原交易", "原交易不存在", "无原交易", "原.*(报文|交易).*(不存在|未找到)"]
    max_attempts: int = Field(default=5, ge=1, le=100)

    def not_found(self, err_msg: str) -> bool:
        return any(re.search(p, err_msg or "") for p in self.not_found_patterns)


class MessageSpec(_Part):
    """One transaction's input: ``node`` under ``input`` (an object, or a list with ``shape = "list"``), the
    fields that must be present and non-empty, and optionally a line list beside it (``lines``) with its own."""
    node: str
    shape: Literal["object", "list"] = "object"
    required: list[str] = []
    one_of: list[str] = []
    lines: str = ""
    lines_required: list[str] = []


class GatewayProfile(_Part):
    name: str
    title: str = ""
    extends: str = ""
    envelope: Envelope = Envelope()
    transport: Transport = Transport()
    infnos: dict[str, str] = {}
    sign_in: SignIn = SignIn()
    settle: Settle = Settle()
    evoucher: EVoucher = EVoucher()
    uploads: Uploads = Uploads()
    reconcile: Reconcile = Reconcile()
    reversal: Reversal = Reversal()
    ytd: dict[str, str] = {}          # 5206 cum_type_code → deductible_paid | fund_paid | selfpay | supplementary_paid
    hosp_lv: dict[str, str] = {}      # 1201 hosp_lv code → the policy's level key; empty: 1201 is not asked
    refusals: dict[str, str] = {}
    answers: dict[str, str] = {}
    messages: dict[str, MessageSpec] = {}

    @field_validator("refusals", "sign_in")
    @classmethod
    def _patterns_compile(cls, value: Any) -> Any:
        _check_patterns(value.keys() if isinstance(value, dict) else value.invalid_patterns)
        return value

    # -- what the adapter and the sandbox ask of a profile ------------------------------------------------------
    def wire_infno(self, infno: str) -> str:
        """The number sent for a logical transaction ("3505" → "3505A" where the province batches)."""
        if infno == "3505":
            return self.uploads.sale_infno
        return self.infnos.get(infno, infno)

    def recer_sys_code(self, infno: str, insutype: str = "") -> str:
        if insutype and infno in self.envelope.recer_sys_code_insutype_infnos:
            code = self.envelope.recer_sys_code_by_insutype.get(insutype)
            if code:
                return code
        return self.envelope.recer_sys_code_by_infno.get(infno, self.envelope.recer_sys_code)

    def path(self, infno: str) -> str:
        return self.transport.paths.get(infno, self.transport.path)

    def message(self, infno: str) -> MessageSpec | None:
        return self.messages.get(infno)

    def refusal_reason(self, err_msg: str) -> str | None:
        """The rxlane reason code an insurer's refusal text means, by the profile's pattern table, or None."""
        for pattern, code in self.refusals.items():
            if re.search(pattern, err_msg or ""):
                return code
        return None

    def sign_in_invalid(self, err_msg: str) -> bool:
        return any(re.search(p, err_msg or "") for p in self.sign_in.invalid_patterns)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_input(spec: MessageSpec, input: Any) -> list[str]:
    """The problems of a message's ``input`` against its spec, as Chinese sentences naming each field the way a
    gateway's err_msg does; [] when it matches."""
    if not isinstance(input, dict):
        return ["交易输入[input]格式不正确"]
    node = input.get(spec.node)
    problems: list[str] = []
    if node is None:
        return [f"交易输入缺少节点[{spec.node}]"]
    rows = node if spec.shape == "list" else [node]
    if spec.shape == "list" and not isinstance(node, list):
        return [f"节点[{spec.node}]应为列表"]
    if spec.shape == "object" and not isinstance(node, dict):
        return [f"节点[{spec.node}]应为对象"]
    for i, row in enumerate(rows):
        where = f"{spec.node}[{i}]" if spec.shape == "list" else spec.node
        if not isinstance(row, dict):
            problems.append(f"节点[{where}]格式不正确")
            continue
        problems += [f"参数[{where}.{key}]不能为空" for key in spec.required if _empty(row.get(key))]
        if spec.one_of and all(_empty(row.get(key)) for key in spec.one_of):
            problems.append(f"参数[{'/'.join(spec.one_of)}]至少填写一项")
    if spec.lines:
        lines = input.get(spec.lines)
        if not isinstance(lines, list) or not lines:
            problems.append(f"交易输入缺少明细[{spec.lines}]")
        else:
            for i, row in enumerate(lines):
                if not isinstance(row, dict):
                    problems.append(f"明细[{spec.lines}[{i}]]格式不正确")
                    continue
                problems += [f"参数[{spec.lines}[{i}].{key}]不能为空" for key in spec.lines_required
                             if _empty(row.get(key))]
    return problems


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such gateway profile") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None


def profile_from_mapping(data: dict[str, Any], origin: str = "<mapping>", *,
                         _seen: tuple[str, ...] = ()) -> GatewayProfile:
    parent = str(data.get("extends") or "")
    if parent:
        if parent in _seen:
            raise ProfileError(f"{origin}: extends loops through {parent!r}")
        base = _read(_file(parent)).copy()
        base_profile = profile_from_mapping(base, str(_file(parent)), _seen=(*_seen, parent))
        data = _merge(base_profile.model_dump(), {k: v for k, v in data.items() if k != "extends"})
        data["extends"] = parent
    try:
        return GatewayProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ProfileError(f"{origin}: {where}: {err['msg']}") from None


def _file(name: str) -> Path:
    if not _NAME.match(name):
        raise ProfileError(f"{name!r} is not a gateway profile name (lower-case letters, digits, '-', '_')")
    return PROFILES_DIR / f"{name}.toml"


def load_profile(name_or_path: str) -> GatewayProfile:
    """A shipped profile by name (``national``, ``zhejiang``…) or a profile file by path."""
    path = Path(name_or_path) if name_or_path.endswith(".toml") else _file(name_or_path)
    return _cached(str(path.resolve()), path.stat().st_mtime if path.exists() else 0.0)


@lru_cache(maxsize=32)
def _cached(path: str, _mtime: float) -> GatewayProfile:
    return profile_from_mapping(_read(Path(path)), path)


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
