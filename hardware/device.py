"""The small protocol every device driver follows, and the configuration that names a device.

Borrowed from the Odoo IoT box (docs/developing.md): each device reports exactly one of `connected`, `connecting`,
`disconnected`, `error`, with the last error text, so the counter page's device panel can say what is wrong in
words. Model settings (baud rate, framing, prefix/suffix, printer code page) are data in
`config/devices/<model>.toml`; the store's `[[devices]]` entry overrides them (docs/configuration.md, docs/hardware.md).
"""
from __future__ import annotations

import codecs
import tomllib
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from collections.abc import Mapping

from hardware.codepage import canonical_code_page
from hardware.framing import KINDS as FRAMINGS

State = Literal["connected", "connecting", "disconnected", "error"]
STATES = ("connected", "connecting", "disconnected", "error")
DEVICE_KINDS = ("scanner", "card_reader", "printer")
DRIVERS = ("", "sscard_lib")     # "": chosen by the url; sscard_lib: the vendor's standard card library
MODELS_DIR = Path(__file__).resolve().parent.parent / "config" / "devices"
# descriptive keys a model file may carry; they document the model and configure nothing
_MODEL_METADATA = ("description", "vendor", "interface", "notes")


class DeviceError(Exception):
    """A device could not be opened, read or written. `state` is what the device should now report:
    `disconnected` when it went away (unplugged, powered off), `error` when it cannot be used as configured,
    `connected` when the device is fine and only this read failed (no card in the reader). Drivers that know
    better set `code` (a code of plugin/api/errors.py), the pharmacist's `message_zh` and `details`."""

    def __init__(self, message: str, state: State = "error", *, code: str = "", message_zh: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.state = state
        self.code = code
        self.message_zh = message_zh
        self.details = details or {}


@dataclass(frozen=True)
class DeviceConfig:
    name: str
    kind: str
    url: str
    framing: str = "cr"
    model: str = ""
    baudrate: int = 9600
    encoding: str = "utf-8"
    prefix: str = ""
    suffix: str = ""
    code_page: str = ""          # printers: gb18030 | gbk | utf-8 | an ESC/POS code page like "CP437" ("" = gb18030)
    reprobe_s: float = 3.0       # longest wait between reconnect attempts
    separator: str = "|"         # card readers: between card number and card serial number
    max_frame: int = 4096
    frame_gap_s: float = 0.1     # `timeout` framing: this much silence ends a frame
    columns: int = 42            # printers: characters per line in font A (80 mm: 42 at 180 dpi, 48 at 203 dpi)
    any_line_end: bool = True    # scanners on cr/lf/crlf: CR, LF or CRLF ends a scan (the mismatch is reported)
    gs_standins: tuple[str, ...] | None = None   # scanners: characters sent for the GS1 separator (None: store's)
    # PC/SC card readers: the card's APDU steps as hex, model data (config/devices/pcsc-ssc.toml)
    apdu_select: str = ""        # select the social-security application
    apdu_card_no: tuple[str, ...] = ()   # select file / read record giving the card number (TLV)
    apdu_card_sn: tuple[str, ...] = ()   # … giving the card identification code 卡识别码 (TLV)
    # card readers behind the vendor's standard library (driver = "sscard_lib", hardware/sscard_lib.py)
    driver: str = ""
    library: str = ""            # SSCardDriver.dll / libSSCardDriver.so
    read_type: int = 3           # iType: 1 contact, 2 contactless, 3 either (contact first),
                                 # 4 either (contactless first)
    timeout_s: float = 10.0      # longest wait for one read; beyond it the library counts as hung and is restarted
    verify_pin: bool = False     # the province wants the card password: iVerifyPIN on the reader's keypad after a read
    pin_timeout_s: float = 60.0  # the patient types the PIN meanwhile
    library_python: str = ""     # another interpreter for the library's worker (a 32-bit Python for a 32-bit DLL)

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], models_dir: str | Path | None = None) -> DeviceConfig:
        """A store's `[[devices]]` entry over its model's defaults (store wins); `ValueError` names the bad key."""
        if not isinstance(d, Mapping):
            raise ValueError(f"devices: each entry must be a table, got {type(d).__name__}")
        label = f"device {d.get('name')!r}" if d.get("name") else "device"
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ValueError(f"{label}: unknown key {key!r}")
        merged: dict[str, Any] = {}
        model = d.get("model", "")
        if model:
            merged.update(_load_model(str(model), Path(models_dir) if models_dir else MODELS_DIR, label))
        merged.update(d)
        if merged.get("driver") == "sscard_lib" and not merged.get("url"):
            if not isinstance(merged.get("library"), str) or not merged["library"].strip():
                raise ValueError(f"{label}: key 'library' is required with driver = \"sscard_lib\" "
                                 "(the path of the vendor's SSCardDriver library)")
            merged["url"] = merged["library"]    # what the device panel shows as its address
        for key in ("name", "kind", "url"):
            if not isinstance(merged.get(key), str) or not merged[key].strip():
                raise ValueError(f"{label}: key {key!r} is required (a non-empty string)")
        return cls(**_checked(merged, label))


def _load_model(model: str, models_dir: Path, label: str) -> dict[str, Any]:
    if "/" in model or "\\" in model or model.startswith("."):
        raise ValueError(f"{label}: key 'model' must be a model name like 'honeywell-1900', got {model!r}")
    path = models_dir / f"{model}.toml"
    if not path.is_file():
        raise ValueError(f"{label}: key 'model': no device model {model!r} (looked for {path})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{label}: key 'model': {path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(DeviceConfig)} - {"name", "url", "model"}
    out = {}
    for key, value in data.items():
        if key in _MODEL_METADATA:
            continue
        if key not in known:
            raise ValueError(f"{label}: model file {path.name}: unknown key {key!r}")
        out[key] = value
    return out


def _checked(m: dict[str, Any], label: str) -> dict[str, Any]:
    def bad(key: str, want: str) -> ValueError:
        return ValueError(f"{label}: key {key!r} must be {want}, got {m[key]!r}")

    if m["kind"] not in DEVICE_KINDS:
        raise bad("kind", " | ".join(DEVICE_KINDS))
    if m.get("framing", "cr") not in FRAMINGS:
        raise bad("framing", " | ".join(FRAMINGS))
    for key in ("baudrate", "max_frame", "columns"):
        if key in m and (not isinstance(m[key], int) or isinstance(m[key], bool) or m[key] < 1):
            raise bad(key, "a positive integer")
    for key in ("reprobe_s", "frame_gap_s"):
        if key in m and (not isinstance(m[key], (int, float)) or isinstance(m[key], bool) or m[key] <= 0):
            raise bad(key, "a positive number of seconds")
    for key in ("model", "encoding", "prefix", "suffix", "code_page", "separator"):
        if key in m and not isinstance(m[key], str):
            raise bad(key, "a string")
    if "any_line_end" in m and not isinstance(m["any_line_end"], bool):
        raise bad("any_line_end", "true or false")
    if "gs_standins" in m:
        standins = m["gs_standins"]
        if not isinstance(standins, (list, tuple)) or not all(isinstance(c, str) and len(c) == 1 and c.isprintable()
                                                              and not c.isspace() for c in standins):
            raise bad("gs_standins", "a list of single printable characters such as [\"|\"]")
        m["gs_standins"] = tuple(standins)
    if m.get("code_page"):
        try:
            m["code_page"] = canonical_code_page(m["code_page"])
        except ValueError as exc:
            raise ValueError(f"{label}: key 'code_page': {exc}") from None
    if "encoding" in m:
        try:
            codecs.lookup(m["encoding"])
        except LookupError:
            raise bad("encoding", "a Python codec name such as 'utf-8' or 'gb18030'") from None
    if "separator" in m and not m["separator"]:
        raise bad("separator", "a non-empty string")
    _check_library_reader(m, bad, label)
    if "apdu_select" in m and not _is_apdu(m["apdu_select"], allow_empty=True):
        raise bad("apdu_select", "a hex APDU")
    for key in ("apdu_card_no", "apdu_card_sn"):
        if key in m:
            if not isinstance(m[key], (list, tuple)) or not all(_is_apdu(a) for a in m[key]):
                raise bad(key, "a list of hex APDUs")
            m[key] = tuple(m[key])
    return m


def _check_library_reader(m: dict[str, Any], bad: Any, label: str) -> None:
    if m.get("driver", "") not in DRIVERS:
        raise bad("driver", "\"sscard_lib\" or absent")
    for key in ("library", "library_python"):
        if key in m and not isinstance(m[key], str):
            raise bad(key, "a path (string)")
    if "read_type" in m and (not isinstance(m["read_type"], int) or isinstance(m["read_type"], bool)
                             or m["read_type"] not in (1, 2, 3, 4)):
        raise bad("read_type", "1 (contact), 2 (contactless), 3 or 4 (either)")
    for key in ("timeout_s", "pin_timeout_s"):
        if key in m and (not isinstance(m[key], (int, float)) or isinstance(m[key], bool) or not 0 < m[key] <= 300):
            raise bad(key, "a number of seconds in (0, 300]")
    if "verify_pin" in m and not isinstance(m["verify_pin"], bool):
        raise bad("verify_pin", "true or false")
    if m.get("driver") == "sscard_lib":
        if m["kind"] != "card_reader":
            raise bad("driver", "used with kind = \"card_reader\" only")
        if not str(m.get("library", "")).strip():
            raise ValueError(f"{label}: key 'library' is required with driver = \"sscard_lib\" "
                             "(the path of the vendor's SSCardDriver library)")


def _is_apdu(value: Any, allow_empty: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    if not value:
        return allow_empty
    return len(value) % 2 == 0 and len(value) >= 8 and all(c in "0123456789abcdefABCDEF" for c in value)


@runtime_checkable
class Device(Protocol):
    """What the manager needs from a driver. Input devices implement `read_frame`, printers `write`.

    `open()`/`read_frame()` raise `DeviceError` (and set `state`/`last_error` first); `read_frame` raises
    `hardware.framing.BadFrame` for a complete frame that is not a scan, and returns None on a quiet line.
    """

    config: DeviceConfig
    state: State
    last_error: str | None
    last_seen: datetime | None

    def open(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class InputDevice(Device, Protocol):
    """Scanners and card readers."""

    def read_frame(self, timeout: float) -> str | None: ...


@runtime_checkable
class OutputDevice(Device, Protocol):
    """Printers: `write` returns False (and sets state "error") instead of raising."""

    def write(self, data: bytes) -> bool: ...


class DeviceStatus:
    """The `Device` protocol's fields as a driver starts, before `open()`: its `config`, state "disconnected", no
    `last_error`, never `last_seen`. Drivers inherit it and set the fields as they go."""

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.state: State = "disconnected"
        self.last_error: str | None = None
        self.last_seen: datetime | None = None


class CardReaderStatus(DeviceStatus):
    """A card reader that keeps its own counts: `bad_frames`, answers that were not a card read, and `dropped`,
    reads thrown away unfinished (the device panel's `dropped`, hardware/manager.py `states`); both start at 0."""

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self.bad_frames = 0
        self.dropped = 0
