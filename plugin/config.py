"""Layered configuration (docs/configuration.md): defaults.toml → chain file → store file → RXLANE_SECTION__KEY
variables.

Every layer is validated against one schema, so a typo in a store file is an error naming the file and key rather
than a silently ignored setting. Secrets are read from the environment or a secret file and never printed.
"""
from __future__ import annotations

import codecs
import ipaddress
import os
import socket
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plugin.errors import InvalidInput
from plugin.privacy import mask_certno
from plugin.scanhints import usable_standin

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULTS_FILE = CONFIG_DIR / "defaults.toml"
SECRET_KEYS = {("nhsa", "secret"), ("nhsa", "paasid"), ("nhsa", "sm4_key"), ("nhsa", "sm2_private_key"),
               ("nhsa", "apikey"), ("reconcile", "peer_token"),
               ("hq", "token"), ("hq", "admin_token"), ("hq", "database_url")}


def binds_loopback(host: str) -> bool:
    """Does binding ``host`` keep rxlane on this machine? An address literal is judged as an address, a name by
    every address it resolves to (one that does not resolve is not assumed local); never by its spelling."""
    name = host.strip().strip("[]")
    if name in ("", "0.0.0.0", "::", "*"):
        return False
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback for i in infos)


def _http_url(v: str) -> str:
    """``v`` when empty (not configured) or an http(s) URL; else the ``ValueError`` a field validator reports."""
    if v and not v.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return v


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    fixmedins_code: str = Field(pattern=r"^[A-Za-z0-9]{12}$")
    fixmedins_name: str = Field(min_length=1)
    region: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    admdvs: str = Field(default="", pattern=r"^(\d{6})?$")
    policy_file: str = ""
    trace_prefix_len: int = Field(default=7, ge=1, le=19)
    counter_no: int = Field(default=0, ge=0, le=9)
    draft_expiry_minutes: int = Field(default=240, ge=0, le=10080, description=(
        "an unsettled sale untouched this long is cancelled and its packs released; 0 keeps drafts for ever"))


class ScanningSettings(_Section):
    """How scans are read (plugin/scanhints.py, plugin/tracecode.py)."""
    gs_standins: list[str] = Field(default_factory=lambda: ["|", "\u241d"], max_length=4, description=(
        "characters the scanners send for the GS1 separator (FNC1/GS); a device's own gs_standins wins"))
    other_codes: bool = Field(default=False, description=(
        "accept manufacturers' own 20-digit traceability codes (not beginning with 8) as kind other_code"))
    upload_other_codes: bool = Field(default=False, description=(
        "send other_code packs in the traceability upload (3505/3506); the gateway profile decides"))

    @field_validator("gs_standins")
    @classmethod
    def _standins(cls, v: list[str]) -> list[str]:
        for ch in v:
            if not usable_standin(ch):
                raise ValueError(f"{ch!r}: a stand-in is one character that GS1 data never holds, such as '|'")
        return v


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=0, le=65535)
    data_dir: str = ""
    workers: int = Field(default=16, ge=1, le=64)
    max_body_bytes: int = Field(default=262144, ge=1024)
    require_tokens: bool = False
    identify_per_minute: int = Field(default=60, ge=1, le=10000)
    log_file: str = ""          # "" stderr only; "auto" the platform's log folder (platformdirs); or a path
    # docs/reliability.md: who may call, connections, retries, the ledger
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = []
    idempotency_ttl_h: float = Field(default=24, gt=0, le=2160)
    event_streams_max: int = Field(default=256, ge=1, le=2048)
    event_stream_max_s: float = Field(default=3600, ge=10, le=86400)
    connection_limit: int = Field(default=1000, ge=10, le=10000)
    idle_timeout_s: float = Field(default=60, ge=1, le=3600)
    request_timeout_s: float = Field(default=30, ge=1, le=600)
    checkpoint_s: float = Field(default=60, ge=1, le=3600)

    @property
    def tokens_required(self) -> bool:
        """Beyond loopback every call needs a token, whatever the file says (docs/security.md)."""
        return self.require_tokens or not binds_loopback(self.host)


class NhsaSettings(_Section):
    url: str = ""
    profile: str = Field(default="national", min_length=1)
    path: str = ""
    timeout_s: float = Field(default=15, gt=0, le=300)
    recer_sys_code: str = ""          # obsolete: the gateway profile decides it per transaction; kept so old files load
    opter: str = Field(default="0001", min_length=1, max_length=30)
    opter_name: str = Field(default="药师", min_length=1, max_length=50)
    terminal_ip: str = ""
    terminal_mac: str = Field(default="", pattern=r"^([0-9A-Fa-f]{2}([-:]?[0-9A-Fa-f]{2}){5})?$")
    apikey: str = Field(default="", repr=False)
    password_public_key_file: str = ""
    paasid: str = ""
    secret: str = Field(default="", repr=False)
    secret_file: str = ""
    verify_tls: bool = True
    ca_bundle: str = ""
    proxy: str = ""
    clock_skew_max_s: float = Field(default=120, ge=1, le=86400)
    # 国密 envelope protection (adapters/nhsa/smcrypto.py), off by default
    signtype: Literal["", "SM3", "SM2"] = ""
    sm2_private_key: str = Field(default="", repr=False, pattern=r"^([0-9A-Fa-f]{64})?$")
    sm2_private_key_file: str = ""
    sm2_public_key: str = Field(default="", pattern=r"^((04)?[0-9A-Fa-f]{128})?$")
    sm4_key: str = Field(default="", repr=False, pattern=r"^([0-9A-Fa-f]{32})?$")
    sm4_key_file: str = ""
    encrypt_body: bool = False
    # a provincial front-end library instead of HTTP (adapters/nhsa/dll.py, docs/vendor-libraries.md)
    transport: Literal["http", "dll"] = "http"
    dll_path: str = ""
    dll_init_args: str = ""
    dll_encoding: str = "gb18030"
    dll_python: str = ""

    @model_validator(mode="after")
    def _dll_needs_its_library(self) -> NhsaSettings:
        if self.transport == "dll" and not self.dll_path.strip():
            raise ValueError("transport \"dll\" needs dll_path (the front-end library, e.g. SiInterface_hsf.dll)")
        try:
            codecs.lookup(self.dll_encoding)
        except LookupError:
            raise ValueError(f"dll_encoding {self.dll_encoding!r} is not a known code page (e.g. gb18030)") from None
        return self

    @field_validator("sm2_private_key", "sm2_public_key", "sm4_key", mode="before")
    @classmethod
    def _hex_key(cls, v: Any) -> Any:
        """An all-digit hex key in RXLANE_NHSA__… parses as a TOML integer; its text is exact, so take it back."""
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if not isinstance(v, str):
            raise ValueError("must be a quoted hex string")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v).rstrip("/")

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        from adapters.nhsa.profile import ProfileError, load_profile
        try:
            load_profile(v)
        except (ProfileError, OSError) as exc:
            raise ValueError(str(exc)) from None
        return v


class EVoucherSettings(_Section):
    url: str = ""
    org_id: str = ""
    timeout_s: float = Field(default=10, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class SandboxSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    demo: bool = True


class ReconcileSettings(_Section):
    at: str = Field(default="23:30", pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$",
                    description="daily 3201/3202 run time (HH:MM); empty turns the schedule off")
    # One reconciliation per store (docs/reconciliation.md): the lead counter lists the store's other counters and
    # gathers their day rows; each other counter names the lead and leaves the insurer's reconciliation to it.
    peers: list[str] = []             # on the lead: the other counters' base URLs, e.g. "http://192.168.1.12:8600"
    lead: str = ""                    # on another counter: the lead's base URL
    peer_token: str = Field(default="", repr=False)   # the token the lead shows the others (scope "reconcile")
    peer_token_file: str = ""
    lead_token_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")   # on the others: the lead's token's hash
    peer_timeout_s: float = Field(default=10, gt=0, le=120)

    @field_validator("peers")
    @classmethod
    def _peers(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https://")
        if len(set(v)) != len(v):
            raise ValueError("a counter is listed twice")
        return [u.rstrip("/") for u in v]

    @field_validator("lead")
    @classmethod
    def _lead(cls, v: str) -> str:
        return _http_url(v).rstrip("/")

    @property
    def follows(self) -> bool:
        """This counter leaves the store's reconciliation to a lead (it names the lead or accepts its token)."""
        return bool(self.lead or self.lead_token_sha256)

    @model_validator(mode="after")
    def _one_role(self) -> ReconcileSettings:
        if self.peers and self.follows:
            raise ValueError("a counter either leads (peers) or follows a lead (lead, lead_token_sha256), not both")
        return self


class RetentionSettings(_Section):
    """The daily backup and what is pruned after it (docs/reconciliation.md, "Retention")."""
    at: str = Field(default="03:30", pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$")
    backup_dir: str = ""              # "" = <data dir>/backups; a path on another disk is better
    backups_kept: int = Field(default=7, ge=1, le=3650)
    outbox_days: int = Field(default=90, ge=1, le=3650)
    journal_years: int = Field(default=30, ge=1, le=100)


class PharmacistSettings(_Section):
    """One of the store's pharmacists (药师), as the uploads name them: name, ID type and number, practising
    licence number (执业药师注册证号). The counter page chooses who is on duty (``PUT /v1/pharmacist``)."""
    name: str = Field(min_length=1, max_length=50)
    certno: str = Field(min_length=1, max_length=50, repr=False)
    prac_cert_no: str = Field(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z\-]+$")
    cert_type: str = Field(default="01", pattern=r"^\d{2}$")

    @model_validator(mode="after")
    def _resident_id(self) -> PharmacistSettings:
        if self.cert_type == "01" and not (len(self.certno) == 18 and self.certno[:17].isdigit()
                                           and self.certno[17] in "0123456789Xx"):
            raise ValueError("certno must be an 18-character resident ID number for cert_type 01")
        return self


class HqSettings(_Section):
    heartbeat_url: str = ""
    heartbeat_s: float = Field(default=300, ge=10, le=86400)
    # the store's side of chain headquarters (docs/hq.md): push heartbeats and reports, pull the list
    url: str = ""
    token: str = Field(default="", repr=False)
    token_file: str = ""
    store_id: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$")
    backlog_max: int = Field(default=288, ge=1, le=10000)
    # the headquarters service itself (`rxlane hq serve`)
    host: str = "127.0.0.1"
    port: int = Field(default=8800, ge=0, le=65535)
    data_dir: str = ""
    database_url: str = Field(default="", repr=False)
    admin_token: str = Field(default="", repr=False)
    admin_token_file: str = ""
    down_after_s: float = Field(default=900, ge=30, le=30 * 86400)
    history_days: int = Field(default=30, ge=1, le=3650)
    max_heartbeat_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    max_report_bytes: int = Field(default=1048576, ge=4096, le=64 * 1024 * 1024)
    workers: int = Field(default=8, ge=1, le=64)

    @field_validator("heartbeat_url", "url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return v


class CatalogSettings(_Section):
    list_file: str = ""               # the imported dual-channel list in use; "" = <data dir>/dual-channel-list.json


class DeviceSettings(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    kind: Literal["scanner", "card_reader", "printer"]
    url: str = ""                 # any pyserial URL (COM3, \\.\COM10, /dev/ttyACM0, socket://…);
                                  # none for driver sscard_lib
    framing: str = "cr"
    model: str = ""

    @model_validator(mode="after")
    def _url_unless_library(self) -> DeviceSettings:
        if not self.url and (self.model_extra or {}).get("driver") != "sscard_lib":
            raise ValueError("url is required (a pyserial URL such as COM3 or /dev/ttyACM0)")
        return self


class Settings(_Section):
    store: StoreSettings
    server: ServerSettings = ServerSettings()
    nhsa: NhsaSettings = NhsaSettings()
    evoucher: EVoucherSettings = EVoucherSettings()
    sandbox: SandboxSettings = SandboxSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    hq: HqSettings = HqSettings()
    catalog: CatalogSettings = CatalogSettings()
    scanning: ScanningSettings = ScanningSettings()
    devices: list[DeviceSettings] = []
    retention: RetentionSettings = RetentionSettings()
    pharmacists: list[PharmacistSettings] = []

    @model_validator(mode="after")
    def _licences_unique(self) -> Settings:
        licences = [p.prac_cert_no for p in self.pharmacists]
        if len(set(licences)) != len(licences):
            raise ValueError("pharmacists: two entries share a prac_cert_no")
        return self

    @property
    def embedded_sandbox(self) -> bool:
        return not self.nhsa.url and self.nhsa.transport == "http"

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret replaced by '***' (for `config check` and logs)."""
        data = self.model_dump(mode="json")
        for section, key in SECRET_KEYS:
            if data.get(section, {}).get(key):
                data[section][key] = "***"
        for person in data.get("pharmacists", []):
            person["certno"] = mask_certno(person["certno"])
        return data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: file not found", f"配置文件不存在：{path}", field=str(path)) from None
    except OSError as exc:   # a directory, no permission, an unreadable device
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}", f"无法读取配置文件：{path}",
                           field=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}", f"配置文件格式错误：{path}", field=str(path)) from None


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_layer(environ: dict[str, str]) -> dict[str, Any]:
    """RXLANE_SECTION__KEY=value → {section: {key: value}}; values parsed as TOML scalars when they parse."""
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("RXLANE_") or "__" not in name:
            continue
        section, _, key = name[len("RXLANE_"):].lower().partition("__")
        value: Any = raw
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            pass
        if _takes_text(section, key) and not isinstance(value, str):
            value = raw                     # an all-digit division or store code stays text as written
        layer.setdefault(section, {})[key] = value
    return layer


def _takes_text(section: str, key: str) -> bool:
    """Whether the setting [section] key is text (``str`` or ``str | None``): its variable is then taken as written,
    never as a TOML number or boolean."""
    holder = Settings.model_fields.get(section)
    model = holder.annotation if holder is not None else None
    fields = getattr(model, "model_fields", None)
    if not isinstance(fields, dict) or key not in fields:
        return False
    return fields[key].annotation in (str, str | None)


def _check_layer(layer: dict[str, Any], origin: str) -> None:
    """Validate one layer's keys alone so an error names the file that holds the mistake."""
    fields = Settings.model_fields
    for section, body in layer.items():
        if section not in fields:
            raise InvalidInput(f"{origin}: unknown section [{section}]", f"{origin}：未知的配置节 [{section}]",
                               field=section)
        if section in ("devices", "pharmacists"):
            continue
        model = fields[section].annotation
        if not isinstance(body, dict):
            raise InvalidInput(f"{origin}: [{section}] must be a table", f"{origin}：[{section}] 必须是表",
                               field=section)
        unknown = sorted(set(body) - set(model.model_fields))  # type: ignore[union-attr]
        if unknown:
            raise InvalidInput(f"{origin}: unknown key {section}.{unknown[0]}",
                               f"{origin}：未知的配置项 {section}.{unknown[0]}", field=f"{section}.{unknown[0]}")


def load_settings(config_file: str | Path | None = None, *, chain_file: str | Path | None = None,
                  environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    merged = _read_toml(DEFAULTS_FILE)
    chain_file = chain_file or environ.get("RXLANE_CHAIN") or None
    layers: list[tuple[str, dict[str, Any]]] = []
    for path in (chain_file, config_file):
        if path:
            layers.append((str(path), _read_toml(Path(path))))
    layers.append(("environment", _env_layer(environ)))
    if overrides:
        layers.append(("command line", overrides))
    for origin, layer in layers:
        _check_layer(layer, origin)
        merged = _merge(merged, layer)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"configuration: {where}: {err['msg']}", f"配置错误：{where}：{err['msg']}",
                           field=where) from None
    return _with_secret_files(settings)


def _with_secret_files(settings: Settings) -> Settings:
    settings = _with_file_secret(settings, "reconcile", "peer_token", "无法读取对账令牌文件")
    return _with_file_secret(settings, "nhsa", "secret", "无法读取密钥文件")


def _with_file_secret(settings: Settings, section: str, key: str, message_zh: str) -> Settings:
    """``[section] key`` read from the file ``[section] key_file`` names (its text, stripped) when the key itself is
    not set; ``InvalidInput`` naming ``section.key_file`` when the file cannot be read."""
    part = getattr(settings, section)
    path = getattr(part, f"{key}_file")
    if not path or getattr(part, key):
        return settings
    field = f"{section}.{key}_file"
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidInput(f"{field}: cannot read: {exc.strerror}", message_zh, field=field) from None
    return settings.model_copy(update={section: part.model_copy(update={key: value})})


def permission_warnings(settings: Settings, config_file: str | Path | None) -> list[str]:
    """Files holding secrets must not be readable by group or others (config check warns, never fails): the
    secret files, and a config file that sets a secret itself."""
    paths = [p for p in (settings.nhsa.secret_file, settings.reconcile.peer_token_file,
                         getattr(settings.nhsa, "sm2_private_key_file", ""),
                         getattr(settings.nhsa, "sm4_key_file", ""), settings.hq.token_file,
                         settings.hq.admin_token_file) if p]
    if config_file:
        try:
            layer = _read_toml(Path(config_file))
        except InvalidInput:
            layer = {}
        if any(layer.get(section, {}).get(key) for section, key in SECRET_KEYS):
            paths.append(str(config_file))
    warnings = []
    for path in paths:
        try:
            mode = Path(path).stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{path} is readable by other users (mode {oct(mode & 0o777)}); run: chmod 600 {path}")
    return warnings
