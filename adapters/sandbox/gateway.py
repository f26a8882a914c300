"""How the simulated gateway is set up: the active gateway profile (config/gateways/<name>.toml), the authentication
secret, the e-voucher token lifetime, and the answer variants (``POST /sandbox/variants``, docs/sandbox.md).

Variants are the ways real gateways differ in what they send back (docs/gateway.md, "Reading answers"): a GBK or
GB18030 body, ``output`` as a JSON string, ``infcode`` as ``"0"``, ``""`` instead of ``null``, money as strings, and
unknown extra fields. The defaults are the baseline of the wire samples (tests/contract/wire): UTF-8, ``output`` an
object, ``infcode`` a number, empty fields ``null``, money as JSON numbers, no extras. Only center.py's renderer
reads them; no handler knows about variants.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from plugin.errors import InvalidInput

from adapters.nhsa.profile import GatewayProfile, ProfileError, load_profile

CHARSETS = ("utf-8", "gbk", "gb18030")
_DECLARED = {"utf-8": "UTF-8", "gbk": "GBK", "gb18030": "GB18030"}
DEFAULT_TOKEN_LIFETIME_S = 3600


@dataclass(frozen=True)
class Variants:
    charset: str = "utf-8"
    output_as_string: bool = False
    infcode_as_string: bool = False
    nulls: bool = True
    numbers_for_money: bool = True
    extra_fields: bool = False

    def updated(self, body: Any) -> Variants:
        """These variants with the fields of a (partial) ``POST /sandbox/variants`` body changed."""
        if not isinstance(body, dict):
            raise InvalidInput("The body must be a JSON object.", "请求体必须是 JSON 对象。", field="body")
        known = asdict(self)
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if key not in known:
                raise InvalidInput(f"{key}: unknown variant (known: {', '.join(known)}).",
                                   f"字段 {key}：未知的应答变体。", field=str(key))
            if key == "charset":
                if not isinstance(value, str) or value.lower() not in CHARSETS:
                    raise InvalidInput(f"charset: must be one of {', '.join(CHARSETS)}.",
                                       f"字段 charset：必须是 {'、'.join(CHARSETS)} 之一。", field="charset")
                value = value.lower()
            elif not isinstance(value, bool):
                raise InvalidInput(f"{key}: must be true or false.", f"字段 {key}：必须是 true 或 false。", field=key)
            changes[key] = value
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def encoded(self, text: str) -> tuple[bytes, str]:
        """(body bytes, Content-Type) of an answer's JSON text in this charset. A character outside GBK goes out
        in GB18030, the superset GBK systems write, under the same declared name."""
        try:
            data = text.encode(self.charset)
        except UnicodeEncodeError:
            data = text.encode("gb18030")
        return data, f"application/json;charset={_DECLARED[self.charset]}"


def profile_named(name: Any) -> GatewayProfile:
    """A shipped gateway profile by name, or ``InvalidInput`` naming ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("name: must name a gateway profile.", "字段 name：必须是网关配置名称。", field="name")
    try:
        return load_profile(name.strip())
    except (ProfileError, OSError) as exc:
        raise InvalidInput(f"name: {exc}", f"字段 name：未找到或无法读取网关配置 {name.strip()}。",
                           field="name") from None


@dataclass
class GatewaySetup:
    """The sandbox gateway's configuration; ``lock`` guards changes made through the admin API."""
    profile: GatewayProfile
    secret: str = field(default="", repr=False)
    token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S
    variants: Variants = field(default_factory=Variants)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def serves(self, path: str) -> bool:
        """Whether ``path`` is a gateway path of the active profile (its single endpoint or a per-service one)."""
        return path == self.profile.transport.path or path in self.profile.transport.paths.values()

    def path_infnos(self, path: str) -> set[str]:
        """The wire infnos the profile assigns to ``path`` (empty: a general endpoint taking any transaction)."""
        if path == self.profile.transport.path:
            return set()
        return {infno for infno, p in self.profile.transport.paths.items() if p == path}
