"""`rxlane gateway check` (docs/gateway.md "Pointing a store at a province"): sign in for real, show every
transaction's envelope masked, send nothing else; a gateway it may not reach is a coded refusal, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CERT = "360102196803152049"   # the placeholder ID number the check builds its envelopes from


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RXLANE_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "plugin.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _store_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "store.toml"
    path.write_text(f'[nhsa]\nurl = "{url}"\nprofile = "national"\n', encoding="utf-8")
    return path


def _error(result: subprocess.CompletedProcess) -> dict:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return json.loads(result.stderr or result.stdout)["error"]


def test_check_signs_in_and_shows_every_transaction_masked_sending_only_9001(tmp_path, sandbox, sandbox_http):
    before = len(sandbox_http.get("/sandbox/messages").json()["messages"])
    result = _cli("gateway", "check", "--config", str(_store_config(tmp_path, sandbox.url)),
                  "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["profile"] == "national" and report["sign_in"]["ok"] and report["sign_in"]["sign_no"]
    from adapters.nhsa.profile import load_profile
    every = set(load_profile("national").messages) - {"9001", "3505A"}   # 3505A: the batch form, where chosen
    assert set(report["messages"]) == every, every ^ set(report["messages"])
    assert all(m["ok"] and not m["problems"] for m in report["messages"].values()), report["messages"]
    assert CERT not in result.stdout and "张晓梅" not in result.stdout and "复核药师" not in result.stdout
    sent = sandbox_http.get("/sandbox/messages").json()["messages"][before:]
    assert [m["infno"] for m in sent] == ["9001"] and sent[0]["verdict"] == "accepted", sent


def test_an_unreachable_gateway_is_a_coded_refusal_with_both_messages(tmp_path):
    result = _cli("gateway", "check", "--config", str(_store_config(tmp_path, "http://127.0.0.1:9")),
                  "--data-dir", str(tmp_path / "data"))
    error = _error(result)
    assert result.returncode == 2 and error["code"].startswith("UPSTREAM") and error["message_zh"], error


def test_the_embedded_sandbox_with_no_service_running_says_to_start_it(tmp_path):
    result = _cli("gateway", "check", "--data-dir", str(tmp_path / "data"))
    error = _error(result)
    assert result.returncode == 2 and error["code"] == "GATEWAY_NOT_RUNNING" and error["message_zh"], error


@pytest.fixture
def serving(tmp_path):
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "plugin.cli", "serve", "--port", "0", "--sandbox-port", "0",
                             "--data-dir", str(data)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**{k: v for k, v in os.environ.items() if not k.startswith("RXLANE_")},
                                            "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        sandbox = next(line.split()[-1] for line in lines if line.startswith("sandbox listening"))
        yield data, sandbox
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_beside_a_running_service_it_uses_that_service_gateway_and_msgids_the_service_never_sends(serving):
    import requests
    data, sandbox = serving
    deadline = time.monotonic() + 30
    while not (data / "service.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    result = _cli("gateway", "check", "--data-dir", str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["gateway"] == sandbox
    sign_ins = [m for m in requests.get(sandbox + "/sandbox/messages", timeout=10).json()["messages"]
                if m["infno"] == "9001"]
    # the service signed in with a counter's msgid (sequence from 1); the check took one from the tool range (900+)
    assert int(sign_ins[-1]["msgid"][-3:]) >= 900 and any(int(m["msgid"][-3:]) < 900 for m in sign_ins), sign_ins
