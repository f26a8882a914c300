"""The ledger's files under attack (docs/reliability.md, "The ledger"): deleted while the service runs, never
checkpointed, copied for a backup and put back, damaged, truncated, emptied, made read-only, readable by others.
Every case ends in a coded answer or report — never a traceback, never a silently fresh store, never money taken
into a file that no longer exists."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fault.rig import REPO, TALLY, Counter, _env, audit_books, new_pharmacy


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin.cli", *args], cwd=REPO, env=_env(env or {}),
                          capture_output=True, text=True, timeout=timeout)


def _wait_health(rx, problem: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    health: dict = {}
    while time.monotonic() < deadline:
        health = rx.http.get("/v1/health").json()
        if problem in health["problems"]:
            return health
        time.sleep(0.2)
    raise AssertionError(f"health never showed {problem}: {health.get('problems')}")


@pytest.mark.parametrize("lost", ["ledger.sqlite3-wal", "ledger.sqlite3"])
def test_a_ledger_file_deleted_while_running_stops_money_and_the_books_survive_a_restart(launcher, shared_sandbox,
                                                                                        tmp_path, lost):
    pharmacy = new_pharmacy()
    data = tmp_path / "data"
    rx = launcher.rxlane(data, shared_sandbox, pharmacy)
    kept = Counter(rx, shared_sandbox).ring_up()
    assert rx.http.post(f"/v1/sales/{kept}/settle").status_code == 200
    waiting = Counter(rx, shared_sandbox).ring_up()
    (data / lost).unlink()
    health = _wait_health(rx, "ledger_files_lost")
    assert health["status"] == "degraded" and health["ledger"]["fault"]["code"] == "LEDGER_FILES_LOST"
    refused = rx.http.post(f"/v1/sales/{waiting}/settle")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "LEDGER_FILES_LOST", refused.text
    assert refused.json()["error"]["message_zh"]
    rx.kill()                                      # what a pharmacist does next; the books must still be there
    doctor = _cli("doctor", "--data-dir", str(data), env={"RXLANE_NHSA__URL": shared_sandbox.url,
                                                          "RXLANE_STORE__FIXMEDINS_CODE": pharmacy})
    assert "Traceback" not in doctor.stderr and json.loads(doctor.stdout)["ledger_integrity"] is True
    rx = launcher.rxlane(data, shared_sandbox, pharmacy)
    states = {s["id"]: s["state"] for s in rx.sales_today()}
    assert states == {kept: "settled", waiting: "draft"}, states
    rx.settle_down()
    audit = audit_books(rx, shared_sandbox)
    TALLY.record(f"ledger:{lost}-deleted", audit)
    assert audit.problems == []


def test_the_main_ledger_file_alone_holds_recent_sales_because_the_wal_is_checkpointed(launcher, shared_sandbox,
                                                                                      tmp_path):
    pharmacy = new_pharmacy()
    data = tmp_path / "data"
    rx = launcher.rxlane(data, shared_sandbox, pharmacy, env={"RXLANE_SERVER__CHECKPOINT_S": "1"})
    sale_id = Counter(rx, shared_sandbox).ring_up()
    assert rx.http.post(f"/v1/sales/{sale_id}/settle").status_code == 200
    deadline = time.monotonic() + 20
    found = None
    while time.monotonic() < deadline and found is None:
        time.sleep(0.5)
        copy = tmp_path / f"main-only-{time.monotonic_ns()}.sqlite3"
        shutil.copyfile(data / "ledger.sqlite3", copy)   # the main file alone, as a naive file backup takes it
        found = sqlite3.connect(copy).execute("SELECT state FROM sales WHERE id = ?", (sale_id,)).fetchone()
    assert found == ("settled",)


def test_backup_beside_a_running_service_restores_into_a_working_ledger(launcher, shared_sandbox, tmp_path):
    pharmacy = new_pharmacy()
    data = tmp_path / "data"
    env = {"RXLANE_NHSA__URL": shared_sandbox.url, "RXLANE_STORE__FIXMEDINS_CODE": pharmacy}
    rx = launcher.rxlane(data, shared_sandbox, pharmacy)
    sales = [Counter(rx, shared_sandbox).ring_up() for _ in range(2)]
    for sale_id in sales:
        assert rx.http.post(f"/v1/sales/{sale_id}/settle").status_code == 200
    rx.settle_down()
    backup = _cli("backup", "--to", str(tmp_path / "backups"), "--data-dir", str(data), env=env) \
        if (tmp_path / "backups").mkdir() is None else None
    assert backup.returncode == 0, backup.stderr
    copy = Path(json.loads(backup.stdout)["backup"])
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and json.loads(backup.stdout)["integrity"] is True
    refused = _cli("restore", str(copy), "--data-dir", str(data), env=env)
    assert refused.returncode == 2 and json.loads(refused.stderr)["error"]["code"] == "DATA_DIR_IN_USE"
    rx.kill()
    shutil.rmtree(data)                             # the counter PC's disk is replaced
    restored = _cli("restore", str(copy), "--data-dir", str(data), env=env)
    assert restored.returncode == 0, restored.stderr
    rx = launcher.rxlane(data, shared_sandbox, pharmacy)
    assert sorted(s["id"] for s in rx.sales_today() if s["state"] == "settled") == sorted(sales)
    verify = _cli("audit", "verify", "--data-dir", str(data), env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True
    audit = audit_books(rx, shared_sandbox)
    TALLY.record("ledger:backup-restore", audit)
    assert audit.problems == []


# -- a ledger that cannot be used ---------------------------------------------------------------------------------
def _ledger_with_sales(tmp_path: Path) -> Path:
    from plugin.store import Ledger
    data = tmp_path / "data"
    ledger = Ledger(data / "ledger.sqlite3")
    for n in range(400):                            # enough pages that damage lands inside a table
        ledger.journal.request(f"M{n:029d}", "2102", {"input": {"data": {"n": n, "pad": "药" * 200}}}, None)
    ledger.checkpoint()
    ledger.close()
    return data


def _damage(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(os.urandom(8192))


def _truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2 + 100)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


CASES = {"damaged": (_damage, "LEDGER_DAMAGED"), "truncated": (_truncate, "LEDGER_DAMAGED"),
         "zero-length": (_empty, "LEDGER_DAMAGED")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_ledger_is_refused_with_a_code_and_doctor_reports_it(tmp_path, case):
    data = _ledger_with_sales(tmp_path)
    for side in ("ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        (data / side).unlink(missing_ok=True)
    spoil, code = CASES[case]
    spoil(data / "ledger.sqlite3")
    serve = _cli("serve", "--port", "0", "--sandbox-port", "0", "--data-dir", str(data), timeout=60)
    assert serve.returncode == 2, serve.stdout + serve.stderr
    assert "listening" not in serve.stdout and "Traceback" not in serve.stderr
    error = json.loads(serve.stderr)["error"]
    assert error["code"] == code and error["message_zh"], error
    doctor = _cli("doctor", "--data-dir", str(data))
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    report = json.loads(doctor.stdout)
    assert report["ok"] is False and report["ledger"]["ok"] is False
    assert report["ledger"].get("error", {}).get("code") == code or report["ledger"].get("integrity") is False
    if case == "zero-length":
        assert (data / "ledger.sqlite3").stat().st_size == 0      # never taken for a fresh, empty store


def test_a_read_only_ledger_is_refused_with_a_code_and_doctor_reports_it(tmp_path):
    data = _ledger_with_sales(tmp_path)
    mounted = False
    if os.geteuid() == 0:
        # root ignores file modes: make the whole filesystem read-only instead (a read-only remount)
        ro = tmp_path / "ro"
        ro.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(ro)]).returncode == 0
        if not mounted:
            pytest.skip("root, and no tmpfs to remount read-only")
        shutil.copytree(data, ro / "data")
        data = ro / "data"
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    else:
        for p in data.iterdir():
            p.chmod(0o400)
        data.chmod(0o500)
    try:
        serve = _cli("serve", "--port", "0", "--sandbox-port", "0", "--data-dir", str(data), timeout=60)
        assert serve.returncode == 2 and "Traceback" not in serve.stderr, serve.stderr
        assert "listening" not in serve.stdout
        assert json.loads(serve.stderr)["error"]["code"] in ("LEDGER_READ_ONLY",), serve.stderr
        doctor = _cli("doctor", "--data-dir", str(data))
        assert doctor.returncode in (1, 2) and "Traceback" not in doctor.stderr, doctor.stderr
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(data.parent)], capture_output=True)
        else:
            data.chmod(0o700)


def test_a_new_data_dir_and_ledger_are_private_whatever_the_umask(tmp_path):
    data = tmp_path / "fresh"
    env = _env({})
    proc = subprocess.Popen([sys.executable, "-c", "import os, sys; os.umask(0o022); "
                             "from plugin.cli import main; sys.argv = ['rxlane', 'doctor', '--data-dir', sys.argv[1]]; "
                             "main()", str(data)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.communicate(timeout=60)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("ledger.sqlite3", "rxlane.lock"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


def test_an_existing_ledger_readable_by_others_is_made_private(tmp_path):
    from plugin.store import Ledger
    data = _ledger_with_sales(tmp_path)
    data.chmod(0o755)
    for p in data.iterdir():
        p.chmod(0o644)
    Ledger(data / "ledger.sqlite3").close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "ledger.sqlite3").stat().st_mode) == 0o600
