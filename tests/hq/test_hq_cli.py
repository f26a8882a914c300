"""`rxlane hq serve|enroll|revoke|migrate` as a user runs them: real processes, SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from plugin.cli import main
from plugin.hq.schema import LATEST
from tests.hq.conftest import bearer, beat

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
for _name in [k for k in ENV if k.startswith("RXLANE_")]:
    ENV.pop(_name)


def cli(*args: str):
    return CliRunner().invoke(main, list(args), env={})


def start_hq(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "plugin.cli", "hq", "serve", "--port", "0", *args], cwd=REPO,
                            env={**ENV, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("hq listening on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
    return proc, line.removeprefix("hq listening on ")


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


def test_enroll_prints_the_token_once_and_keeps_only_its_hash(tmp_path):
    result = cli("hq", "enroll", "jx-nc-0001", "--region", "jiangxi", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    token = json.loads(result.stdout)["token"]
    assert token.startswith("rxhq_") and "not shown again" in result.stderr
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("hq.sqlite3*"))
    assert token.encode() not in stored and b"jx-nc-0001" in stored
    assert oct((tmp_path / "hq.sqlite3").stat().st_mode & 0o777) == "0o600"
    again = cli("hq", "enroll", "jx-nc-0001", "--data-dir", str(tmp_path))
    assert again.exit_code == 2 and json.loads(again.stderr)["error"]["code"] == "INVALID_STATE"
    rotated = cli("hq", "enroll", "jx-nc-0001", "--rotate", "--data-dir", str(tmp_path))
    assert rotated.exit_code == 0 and json.loads(rotated.stdout)["token"] != token
    assert cli("hq", "revoke", "nobody", "--data-dir", str(tmp_path)).exit_code == 2


def test_serve_on_postgresql_prints_its_address_takes_heartbeats_and_stops_on_sigterm(pg_url):
    token = json.loads(cli("hq", "enroll", "cq-yz-0031", "--database-url", pg_url).stdout)["token"]
    proc, url = start_hq("--database-url", pg_url)
    try:
        r = requests.post(url + "/v1/hq/heartbeats", json=beat("cq-yz-0031", 1), headers=bearer(token), timeout=30)
        assert r.status_code == 200, r.text
        stores = requests.get(url + "/v1/hq/stores", timeout=30).json()["stores"]
        assert [(s["store_id"], s["status"]) for s in stores] == [("cq-yz-0031", "healthy")]
        health = requests.get(url + "/v1/hq/health", timeout=30)
        assert health.status_code == 200 and health.json()["database"] is True
        page = requests.get(url + "/", timeout=30)
        assert page.status_code == 200 and "门店运行状态" in page.text and page.headers["X-Frame-Options"] == "DENY"
    finally:
        out = stop(proc)
    assert "hq stopped" in out and proc.returncode == 0


def test_with_an_admin_token_the_page_and_store_list_ask_for_it(tmp_path):
    env = {"RXLANE_HQ__ADMIN_TOKEN": "hq-admin-secret-1"}
    proc, url = start_hq("--data-dir", str(tmp_path), env=env)
    try:
        refused = requests.get(url + "/v1/hq/stores", timeout=30)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
        assert requests.get(url + "/", timeout=30).status_code == 401
        basic = "Basic " + base64.b64encode(b"it:hq-admin-secret-1").decode()
        assert requests.get(url + "/", headers={"Authorization": basic}, timeout=30).status_code == 200
        assert requests.get(url + "/v1/hq/stores", headers=bearer("hq-admin-secret-1"), timeout=30).status_code == 200
        assert requests.get(url + "/v1/hq/stores", headers=bearer("guess"), timeout=30).status_code == 401
    finally:
        stop(proc)


def test_serve_beyond_loopback_without_an_admin_token_is_refused(tmp_path):
    result = subprocess.run([sys.executable, "-m", "plugin.cli", "hq", "serve", "--host", "0.0.0.0", "--port", "0",
                             "--data-dir", str(tmp_path)], cwd=REPO, env=ENV, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and json.loads(result.stderr)["error"]["details"]["field"] == "hq.admin_token"


def test_an_unreachable_database_is_a_coded_error_without_the_password():
    result = cli("hq", "enroll", "x", "--database-url", "postgresql://rx:s3cret-pw@127.0.0.1:1/hq")
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "UPSTREAM_UNAVAILABLE" and "s3cret-pw" not in result.stderr and "***" in error["message"]


def test_migrations_apply_once_even_when_three_processes_start_together(pg_url):
    def run(_):
        return subprocess.run([sys.executable, "-m", "plugin.cli", "hq", "migrate", "--database-url", pg_url],
                              cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, range(3)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert {json.loads(r.stdout)["schema_version"] for r in results} == {LATEST}
    import sqlalchemy as sa

    from plugin.hq.db import normalise_url
    engine = sa.create_engine(normalise_url(pg_url))
    with engine.connect() as conn:
        versions = [v for (v,) in conn.execute(sa.text("SELECT version FROM hq_schema_versions ORDER BY version"))]
    engine.dispose()
    assert versions == list(range(1, LATEST + 1))


def test_a_database_from_a_newer_rxlane_is_refused(tmp_path):
    assert cli("hq", "migrate", "--data-dir", str(tmp_path)).exit_code == 0
    import sqlite3
    with sqlite3.connect(tmp_path / "hq.sqlite3") as conn:
        conn.execute("INSERT INTO hq_schema_versions VALUES (?, ?, ?)", (LATEST + 1, time.time(), "from the future"))
    result = cli("hq", "migrate", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and "newer rxlane" in json.loads(result.stderr)["error"]["message"]


@pytest.mark.parametrize("url", ["mysql://root@localhost/hq", "not a url"])
def test_an_unsupported_database_url_is_refused_by_the_config_check(url):
    result = cli("hq", "migrate", "--database-url", url)
    assert result.exit_code == 2 and json.loads(result.stderr)["error"]["code"] == "INVALID_INPUT"


def test_config_check_masks_the_hq_token_admin_token_and_database_url():
    secrets = {"RXLANE_HQ__TOKEN": "rxhq_store-secret", "RXLANE_HQ__ADMIN_TOKEN": "adm-secret",
               "RXLANE_HQ__DATABASE_URL": "postgresql://hq:pw-secret@db/hq", "RXLANE_HQ__URL": "https://hq.example.cn"}
    result = CliRunner().invoke(main, ["config", "check"], env=secrets)
    assert result.exit_code == 0, result.output
    effective = json.loads(result.stdout)["effective"]["hq"]
    assert effective["token"] == effective["admin_token"] == effective["database_url"] == "***"
    assert not [v for v in ("rxhq_store-secret", "adm-secret", "pw-secret") if v in result.stdout]
    assert effective["url"] == "https://hq.example.cn"


def test_a_chain_file_holding_the_hq_token_is_refused_by_fleet_render(tmp_path):
    from plugin.fleet.render import FleetRefused, render_fleet
    from plugin.fleet.simulate import sample_store, write_inventory
    chain = tmp_path / "chain.toml"
    chain.write_text('[hq]\nurl = "https://hq.example.cn"\ntoken = "rxhq_shared"\n', encoding="utf-8")
    with pytest.raises(FleetRefused) as caught:
        render_fleet(write_inventory(tmp_path / "inv.csv", [sample_store(0)]), chain, tmp_path / "stores")
    assert "hq.token" in str(caught.value.problems[0])
