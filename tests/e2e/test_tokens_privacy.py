"""Tokens, masked personal data, PII access audit, rate limit and the tamper-evident audit trail (docs/security.md)."""
import json
import sqlite3

from click.testing import CliRunner

from plugin import tokens
from plugin.cli import main
from tests.conftest import unmasked_id_numbers
from tests.e2e.conftest import ZHANG, new_sale

IDENTIFY = {"cert_type": "id_card", "cert_no": ZHANG["certno"]}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_beyond_loopback_every_call_needs_a_valid_token_and_the_right_scope(service_factory):
    svc, http = service_factory(server={"require_tokens": True})
    _, sales_only = tokens.create(svc.ledger, "POS-01", ["sales"])
    assert http.get("/v1/health").status_code == 200            # health stays open for HQ's fleet status
    r = http.post("/v1/patients/identify", IDENTIFY)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED" and r.json()["error"]["message_zh"]
    assert http.post("/v1/patients/identify", IDENTIFY, headers=bearer("rxl_forged")).status_code == 401
    assert http.post("/v1/patients/identify", IDENTIFY, headers={"Authorization": "Basic eA=="}).status_code == 401
    ok = http.post("/v1/patients/identify", IDENTIFY, headers=bearer(sales_only))
    assert ok.status_code == 200 and ok.json()["person"]["psn_name"] == "张*"
    r = http.post("/v1/reconciliation", {"date": "2026-11-01"}, headers=bearer(sales_only))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


def test_a_pii_token_sees_unmasked_data_and_every_use_is_audited(rx):
    svc, http = rx
    _, token = tokens.create(svc.ledger, "POS-02", ["sales", "pii"])
    masked = http.post("/v1/patients/identify", IDENTIFY).json()
    assert ZHANG["certno"] not in json.dumps(masked, ensure_ascii=False)
    full = http.post("/v1/patients/identify", IDENTIFY, headers=bearer(token)).json()
    assert full["person"]["certno"] == ZHANG["certno"] and full["person"]["psn_name"] == "张伟"
    sale = new_sale(http, full["patient_ref"])
    assert sale["patient"]["psn_name"] == "张*"               # the loopback caller without pii sees it masked
    audit = svc.ledger.query("SELECT detail_json FROM audit WHERE kind = 'pii_access'")
    assert [json.loads(r[0])["terminal"] for r in audit] == ["POS-02"]
    assert not unmasked_id_numbers(" ".join(r[0] for r in svc.ledger.query("SELECT detail_json FROM audit")))


def test_a_revoked_token_is_refused(service_factory):
    svc, http = service_factory(server={"require_tokens": True})
    token_id, token = tokens.create(svc.ledger, "POS-03", ["sales"])
    assert http.get("/v1/sales", headers=bearer(token)).status_code == 200
    assert tokens.revoke(svc.ledger, token_id)
    assert http.get("/v1/sales", headers=bearer(token)).status_code == 401


def test_identification_is_rate_limited_per_terminal(service_factory):
    _, http = service_factory(server={"identify_per_minute": 2})
    codes = [http.post("/v1/patients/identify", IDENTIFY).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = http.post("/v1/patients/identify", IDENTIFY)
    assert r.json()["error"]["code"] == "RATE_LIMITED" and r.json()["error"]["details"]["retry_after_s"] >= 1


def test_token_cli_prints_the_token_once_and_keeps_only_its_hash(tmp_path):
    runner = CliRunner()
    made = runner.invoke(main, ["token", "create", "--terminal", "POS-01", "--scopes", "sales,pii",
                                "--data-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    token = json.loads(made.stdout.splitlines()[0])["token"]
    listed = runner.invoke(main, ["token", "list", "--data-dir", str(tmp_path)])
    assert token not in listed.stdout and "POS-01" in listed.stdout
    raw = (tmp_path / "ledger.sqlite3").read_bytes()
    assert token.encode() not in raw
    bad = runner.invoke(main, ["token", "create", "--terminal", "POS-01", "--scopes", "root",
                               "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert runner.invoke(main, ["token", "revoke", "1", "--data-dir", str(tmp_path)]).exit_code == 0


def test_audit_trail_is_append_only_and_tampering_is_detected(rx, tmp_path):
    svc, http = rx
    sale = new_sale(http, http.post("/v1/patients/identify", IDENTIFY).json()["patient_ref"])
    http.post(f"/v1/sales/{sale['id']}/settle")
    assert svc.ledger.audit.verify()[0] is True
    try:
        svc.ledger.conn.execute("UPDATE audit SET detail_json = '{}' WHERE kind = 'settlement'")
        raise AssertionError("the audit table accepted an UPDATE")
    except sqlite3.IntegrityError:
        pass
    svc.ledger.conn.executescript("DROP TRIGGER audit_append_only_update; "
                                  "UPDATE audit SET detail_json = '{\"psn_cash_pay\": \"0.00\"}' "
                                  "WHERE kind = 'settlement';")
    ok, rows, bad = svc.ledger.audit.verify()
    assert ok is False and bad is not None
    done = CliRunner().invoke(main, ["audit", "verify", "--data-dir", str(svc.ledger.path.parent)])
    assert done.exit_code == 1 and '"ok": false' in done.stdout


def test_log_scrubber_finds_unmasked_id_numbers_and_ignores_masked_ones():
    assert unmasked_id_numbers(f"x {ZHANG['certno']} y") == [ZHANG["certno"]]
    assert unmasked_id_numbers("3601**********2010 and 86907010000000000001") == []
