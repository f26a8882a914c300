"""The service's side of the counter hardware: starts the configured devices and turns their frames into scans.

Every device scan goes through the same classifier as `POST /v1/scans` and is published on `/v1/events`. A scan
that identifies a patient (e-voucher, ID card, social-security card) is published masked, with a short-lived
`scan_ref` that `POST /v1/patients/identify` accepts instead of the number — so the browser never holds it.
Readers that are asked rather than tapped (a vendor's card library) read on `POST /v1/devices/{name}/read`; their
card becomes the same `ss_card` scan, and their failures the catalogue's codes (CARD_NOT_PRESENT …).
A scan altered on the way (plugin/scanhints.py: Caps Lock, an input method, an ID number that fails its check, a
card number without the card's identification code) gets its `hints` and no `scan_ref`: what the insurer would be
asked about is not what the scanner read.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from hardware.cardreader import parse_card
from hardware.framing import BadFrame
from hardware.device import DeviceConfig, DeviceError, MODELS_DIR
from hardware.manager import DeviceManager
from plugin.errors import ERRORS, InvalidInput, NotFound, RxlaneError
from plugin.events import EventBus
from plugin.privacy import mask_card
from plugin.scanhints import BLOCKING
from plugin.tracecode import Scan, ScanRules

SCAN_REF_TTL_S = 300.0
PATIENT_KINDS = {"ecard": "01", "id_card": "02", "ss_card": "03"}


class ScanRefs:
    """Unmasked patient credentials from device scans, held briefly in memory and handed out by reference."""

    def __init__(self, ttl_s: float = SCAN_REF_TTL_S):
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[float, str, str, str]] = {}
        self._lock = threading.Lock()

    def put(self, cert_type: str, cert_no: str, card_sn: str = "") -> str:
        ref = "R" + secrets.token_hex(10)
        now = time.monotonic()
        with self._lock:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._items[ref] = (now + self.ttl_s, cert_type, cert_no, card_sn)
        return ref

    def take(self, ref: str) -> tuple[str, str, str]:
        with self._lock:
            item = self._items.get(ref)
        if item is None or item[0] < time.monotonic():
            raise InvalidInput("scan_ref is unknown or expired; scan again.", "扫描已过期，请重新扫码或读卡。",
                               field="scan_ref")
        return item[1], item[2], item[3]


def with_scan_ref(scan: Scan, refs: ScanRefs) -> dict[str, Any]:
    """The scan answer; a patient credential also gets a `scan_ref`, so the caller can identify the patient
    without holding the number (the answer itself is masked)."""
    answer = scan.to_dict()
    if scan.hints:
        answer["hints"] = [h.to_dict() for h in scan.hints]
    if any(h.code in BLOCKING for h in scan.hints):
        return answer
    if scan.kind in PATIENT_KINDS:
        number = {"ecard": scan.token, "id_card": scan.cert_no, "ss_card": scan.card_no}[scan.kind]
        answer["scan_ref"] = refs.put(PATIENT_KINDS[scan.kind], number or scan.cleaned)
    return answer


def device_refusal(device: str, exc: DeviceError) -> RxlaneError:
    """A driver's DeviceError as the API answers it: its catalogue code and its own words, the device's state."""
    if exc.code == "NOT_FOUND":
        return NotFound("device", name=device[:64])
    code = exc.code if exc.code in ERRORS else "CARD_READER_UNAVAILABLE"
    return RxlaneError(code, exc.message, exc.message_zh or None,
                       details={"device": device, "state": exc.state, **exc.details})


def device_configs(devices: list[Any], models_dir: Path = MODELS_DIR) -> list[DeviceConfig]:
    configs = []
    for i, dev in enumerate(devices):
        try:
            configs.append(DeviceConfig.from_mapping(dev.model_dump(), models_dir))
        except ValueError as exc:
            raise InvalidInput(f"devices[{i}]: {exc}", f"设备配置错误 devices[{i}]：{exc}",
                               field=f"devices[{i}]") from None
    return configs


class CounterDevices:
    def __init__(self, configs: list[DeviceConfig], events: EventBus, refs: ScanRefs, rules: ScanRules,
                 reprobe_s: float = 3.0):
        self.events = events
        self.refs = refs
        self.kinds = {c.name: c.kind for c in configs}
        # a device's own GS1 separator stand-ins win over the store's ([scanning] gs_standins)
        self.rules = {c.name: rules if c.gs_standins is None else replace(rules, gs_standins=c.gs_standins)
                      for c in configs}
        self.default_rules = rules
        self.manager = DeviceManager(configs, on_scan=self._on_scan, on_state=self._on_state, reprobe_s=reprobe_s,
                                     on_bad_frame=self._on_bad_frame)

    def start(self) -> None:
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()

    def states(self) -> list[dict]:
        return self.manager.states()

    def names(self) -> set[str]:
        return set(self.kinds)

    def scan_answer(self, device: str, text: str) -> dict[str, Any]:
        """The scan event's data: the scan answer of docs/pos-integration.md plus `device`, or an `error` object."""
        if self.kinds.get(device) == "card_reader":
            try:
                card = parse_card(text)
            except BadFrame as exc:
                return {"device": device, "kind": "unknown", "raw_length": len(text),
                        **RxlaneError("INVALID_INPUT", str(exc), "读卡内容无法识别，请重新读卡。").to_body()}
            ref = self.refs.put("03", card.card_no, card.card_sn)
            return {"kind": "ss_card", "raw_length": len(text), "masked": mask_card(card.card_no),
                    "device": device, "scan_ref": ref}
        try:
            scan = self.rules.get(device, self.default_rules).classify(text)
        except RxlaneError as exc:
            return {"device": device, "kind": "unknown", "raw_length": len(text), **exc.to_body()}
        return {**with_scan_ref(scan, self.refs), "device": device}

    def read(self, device: str) -> dict[str, Any]:
        """Ask a reader for a card now: the scan answer (masked, with `scan_ref`), also published as a scan event."""
        try:
            text = self.manager.read(device)
        except DeviceError as exc:
            raise device_refusal(device, exc) from None
        answer = self.scan_answer(device, text)
        self.events.publish("scan", answer)
        return answer

    def verify_pin(self, device: str) -> dict[str, Any]:
        """The patient types the card password on the reader's keypad; the card itself checks it."""
        try:
            self.manager.verify_pin(device)
        except DeviceError as exc:
            raise device_refusal(device, exc) from None
        return {"name": device, "ok": True}

    def _on_scan(self, device: str, text: str) -> None:
        self.events.publish("scan", self.scan_answer(device, text))

    def _on_state(self, device: str, state: str, error: str | None) -> None:
        shown = next((d for d in self.manager.states() if d["name"] == device), {})
        self.events.publish("device", {"name": device, "state": state, "error": error,
                                       "error_code": shown.get("error_code"), "message_zh": shown.get("message_zh")})

    def _on_bad_frame(self, device: str, message: str) -> None:
        self.events.publish("device", {"name": device, "state": "connected", "error": message})
