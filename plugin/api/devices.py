"""`GET /v1/devices`, `POST /v1/devices/{name}/test` (scanner: wait for a scan; printer: print a test slip),
`POST /v1/devices/{name}/read` (a reader that is asked: read a card now) and `POST /v1/devices/{name}/verify-pin`."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from plugin.errors import InvalidInput, NotFound
from plugin.api.http import json_response

bp = Blueprint("devices", __name__)
MAX_TEST_WAIT_S = 30.0


@bp.get("/v1/devices")
def list_devices():
    svc = current_app.extensions["rxlane"]
    return json_response({"devices": svc.devices.states() if svc.devices is not None else []})


@bp.post("/v1/devices/<name>/test")
def test_device(name: str):
    svc = current_app.extensions["rxlane"]
    if svc.devices is None or name not in svc.devices.names():
        raise NotFound("device", name=name[:64])
    try:
        timeout_s = float(request.args.get("timeout_s", "10"))
    except ValueError:
        raise InvalidInput("timeout_s must be a number of seconds.", "timeout_s 应为秒数。",
                           field="timeout_s") from None
    if not 0 < timeout_s <= MAX_TEST_WAIT_S:
        raise InvalidInput(f"timeout_s must be in (0, {MAX_TEST_WAIT_S:g}].", "等待时间超出范围。", field="timeout_s")
    result = svc.devices.manager.test(name, timeout_s=timeout_s)
    if result.get("ok") and "scan" in result:
        # a test scan may be an ID card: answer it classified and masked like any scan
        result["scan"] = svc.devices.scan_answer(name, result["scan"])
        result["scan"].pop("scan_ref", None)
    return json_response(result)


def _asked_device(name: str):
    svc = current_app.extensions["rxlane"]
    if svc.devices is None or name not in svc.devices.names():
        raise NotFound("device", name=name[:64])
    return svc.devices


@bp.post("/v1/devices/<name>/read")
def read_device(name: str):
    return json_response(_asked_device(name).read(name))


@bp.post("/v1/devices/<name>/verify-pin")
def verify_pin(name: str):
    return json_response(_asked_device(name).verify_pin(name))
