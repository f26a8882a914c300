"""One process per data directory (docs/reliability.md): a second `rxlane serve` on the same data directory — a
counter started twice, a service started by hand beside the systemd one — is refused before it touches anything,
so it can never take the first one's settlement in flight for an interrupted one and reverse it; offline commands
beside a running service only read, or are refused with the same code."""
from __future__ import annotations

import json
import subprocess
import sys
import time


from tests.fault.rig import REPO, TALLY, Counter, _env, audit_books, new_pharmacy


def _second(data_dir, sandbox, pharmacy, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = _env({"RXLANE_NHSA__URL": sandbox.url, "RXLANE_STORE__FIXMEDINS_CODE": pharmacy})
    return subprocess.run([sys.executable, "-m", "plugin.cli", *args, "--data-dir", str(data_dir)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_a_second_service_on_the_same_data_dir_is_refused_and_leaves_the_first_ones_settlement_alone(
        launcher, shared_sandbox, tmp_path):
    pharmacy = new_pharmacy()
    data = tmp_path / "data"
    first = launcher.rxlane(data, shared_sandbox, pharmacy, timeout_s=8)
    pos = Counter(first, shared_sandbox)
    sale_id = pos.ring_up()
    shared_sandbox.fault("2102", "slow", 1, 3000)        # the 2102 is at the insurer while the second one starts
    settling, answer = pos.settle_in_background(sale_id)
    second = _second(data, shared_sandbox, pharmacy, "serve", "--port", "0")
    settling.join(30)
    assert second.returncode == 2, second.stdout + second.stderr
    refusal = json.loads(second.stderr)["error"]
    assert refusal["code"] == "DATA_DIR_IN_USE" and refusal["message_zh"] and "rxlane serve" in refusal["message"]
    assert refusal["details"]["pid"] == first.proc.p.pid and refusal["details"]["url"] == first.url
    assert "listening" not in second.stdout and "Traceback" not in second.stderr
    assert answer and answer[0].status_code == 200, answer[0].text if answer else "no answer"
    assert answer[0].json()["state"] == "settled"
    first.settle_down()
    audit = audit_books(first, shared_sandbox)
    TALLY.record("owner:second-serve-refused", audit)
    assert audit.problems == [] and audit.insurer_states == ["settled"]     # not reversed behind its back


def test_the_data_dir_is_free_again_once_its_owner_is_killed(launcher, shared_sandbox, tmp_path):
    pharmacy = new_pharmacy()
    first = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy)
    first.kill()                                       # kill -9: no clean-up ran, the OS dropped the lock
    again = launcher.rxlane(tmp_path / "data", shared_sandbox, pharmacy)
    assert again.http.get("/v1/health").status_code == 200


def test_offline_commands_beside_a_running_service_read_or_are_refused_never_act(launcher, shared_sandbox,
                                                                                 tmp_path):
    pharmacy = new_pharmacy()
    data = tmp_path / "data"
    rx = launcher.rxlane(data, shared_sandbox, pharmacy)
    sale_id = Counter(rx, shared_sandbox).ring_up()
    assert rx.http.post(f"/v1/sales/{sale_id}/settle").status_code == 200
    doctor = _second(data, shared_sandbox, pharmacy, "doctor")
    report = json.loads(doctor.stdout)
    assert report["service"]["running"] is True and report["service"]["pid"] == rx.proc.p.pid
    assert report["ledger"]["integrity"] is True and report["audit"]["ok"] is True and doctor.returncode == 0
    for refused in (["doctor", "--resolve"], ["reconcile", "--date", time.strftime("%Y-%m-%d")],
                    ["outbox", "--retry"], ["catalog", "sync"]):
        done = _second(data, shared_sandbox, pharmacy, *refused)
        assert done.returncode == 2, (refused, done.stdout, done.stderr)
        assert json.loads(done.stderr)["error"]["code"] == "DATA_DIR_IN_USE", refused
    listing = _second(data, shared_sandbox, pharmacy, "outbox")
    assert listing.returncode == 0 and "depth" in json.loads(listing.stdout)
    msgid = rx.http.get(f"/v1/sales/{sale_id}").json()["journal"][0]["msgid"]
    journal = _second(data, shared_sandbox, pharmacy, "journal", msgid)
    assert journal.returncode == 0 and json.loads(journal.stdout)["msgid"] == msgid
    backup = _second(data, shared_sandbox, pharmacy, "backup", "--to", str(tmp_path / "copy.sqlite3"))
    assert backup.returncode == 0 and json.loads(backup.stdout)["integrity"] is True
    assert rx.http.get("/v1/health").json()["status"] == "ok"          # the service never noticed
