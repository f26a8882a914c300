"""`rxlane serve` as a user runs it: no configuration, free ports, the two announced lines, SIGTERM shuts down."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import requests

LINE = re.compile(r"^(rxlane|sandbox) listening on (http://127\.0\.0\.1:\d+)$")


def start(*args: str, env: dict | None = None, expect: int = 2) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "plugin.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while len(urls) < expect and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = LINE.match(line.strip())
        if m:
            urls[m.group(1)] = m.group(2)
    return proc, urls


def test_serve_runs_with_no_configuration_and_stops_cleanly_on_sigterm(tmp_path):
    proc, urls = start("serve", "--port", "0", "--sandbox-port", "0", "--data-dir", str(tmp_path / "d"))
    try:
        assert set(urls) == {"rxlane", "sandbox"}, proc.stderr.read() if proc.poll() is not None else urls
        health = requests.get(urls["rxlane"] + "/v1/health", timeout=10).json()
        assert health["upstream"]["url"] == urls["sandbox"] and health["upstream"]["embedded_sandbox"] is True
        assert requests.get(urls["sandbox"] + "/sandbox/ledger", timeout=10).status_code == 200
        assert (tmp_path / "d" / "ledger.sqlite3").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "rxlane stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_port_already_taken_is_named_with_the_flag_to_change_it_in_both_languages(tmp_path):
    proc, urls = start("serve", "--port", "0", "--sandbox-port", "0", "--data-dir", str(tmp_path / "first"))
    try:
        assert set(urls) == {"rxlane", "sandbox"}
        taken = {name: url.rsplit(":", 1)[1] for name, url in urls.items()}
        for flag, args, words in (("--sandbox-port", ["--port", "0", "--sandbox-port", taken["sandbox"]], "sandbox"),
                                  ("--port", ["--port", taken["rxlane"], "--sandbox-port", "0"], "rxlane")):
            second = subprocess.run([sys.executable, "-m", "plugin.cli", "serve", *args, "--data-dir",
                                     str(tmp_path / f"second{flag}")], capture_output=True, text=True, timeout=60)
            assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr
            assert words in second.stderr and flag in second.stderr and "端口可能已被占用" in second.stderr
            assert f":{args[1 if flag == '--port' else 3]}" in second.stderr
    finally:
        proc.kill()


def test_serve_with_no_demo_starts_an_empty_sandbox(tmp_path):
    proc, urls = start("serve", "--port", "0", "--sandbox-port", "0", "--data-dir", str(tmp_path), "--no-demo")
    try:
        r = requests.post(urls["rxlane"] + "/v1/patients/identify",
                          json={"cert_type": "id_card", "cert_no": "360121196805122010"}, timeout=10)
        assert r.status_code == 404 and r.json()["error"]["code"] == "PATIENT_NOT_FOUND"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_serve_refuses_a_bad_config_file_naming_file_and_key(tmp_path):
    bad = tmp_path / "store.toml"
    bad.write_text('[store]\nfixmedins_code = "P36010200001"\nregoin = "jiangxi"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "plugin.cli", "serve", "--config", str(bad), "--port", "0"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "store.regoin" in done.stderr and str(bad) in done.stderr and "Traceback" not in done.stderr


def test_separate_sandbox_process_is_reached_through_nhsa_url(tmp_path):
    sandbox = subprocess.Popen([sys.executable, "-m", "plugin.cli", "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        url = LINE.match(sandbox.stdout.readline().strip()).group(2)
        proc, urls = start("serve", "--port", "0", "--data-dir", str(tmp_path), env={"RXLANE_NHSA__URL": url},
                           expect=1)
        try:
            assert set(urls) == {"rxlane"}
            health = requests.get(urls["rxlane"] + "/v1/health", timeout=10).json()
            assert health["upstream"]["url"] == url and health["upstream"]["embedded_sandbox"] is False
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=20)


def test_beyond_loopback_serve_warns_and_health_metrics_and_the_page_need_a_token(tmp_path):
    """Bound to every interface (what a counter shared over the LAN does), nothing answers without a token —
    health lists in-doubt sale ids, metrics the store's volumes — and the page takes its token once."""
    from click.testing import CliRunner

    from plugin.cli import main
    created = CliRunner().invoke(main, ["token", "create", "--terminal", "PAGE-1", "--scopes", "sales",
                                        "--data-dir", str(tmp_path / "d")])
    token = json.loads(created.stdout.splitlines()[0])["token"]
    proc = subprocess.Popen([sys.executable, "-m", "plugin.cli", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--sandbox-port", "0", "--data-dir", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "rxlane listening" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        port = int(line.strip().rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}"
        for path in ("/v1/health", "/metrics", "/", "/v1/sales"):
            r = requests.get(base + path, timeout=10, allow_redirects=False)
            assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED", path
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(base + "/v1/health", headers=bearer, timeout=10).status_code == 200
        assert requests.get(base + "/metrics", headers=bearer, timeout=10).status_code == 200
        page = requests.Session()
        login = page.get(f"{base}/?token={token}", timeout=10, allow_redirects=False)
        assert login.status_code == 303 and login.headers["Location"].endswith("/")
        cookie = login.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert page.get(base + "/", timeout=10).status_code == 200
        assert requests.get(base + "/openapi.json", timeout=10).status_code == 200     # no data in it
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert "beyond this computer" in proc.stderr.read()


def test_serve_on_loopback_gives_no_warning_and_health_needs_no_token(tmp_path):
    proc, urls = start("serve", "--port", "0", "--sandbox-port", "0", "--data-dir", str(tmp_path / "d"))
    try:
        assert requests.get(urls["rxlane"] + "/v1/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert "beyond this computer" not in proc.stderr.read()
