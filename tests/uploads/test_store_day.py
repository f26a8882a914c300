"""A store's day on three counters (docs/reconciliation.md): three `rxlane serve` processes of one pharmacy and one
sandbox insurer process. Sales on every counter, a refund, a refused upload, an in-doubt settlement reversed by the
recovery loop — then the lead counter reconciles once for the store and finds no false difference; the refused 3505
shows on the sale, in health and in `rxlane outbox` within one drain cycle."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from plugin.tokens import digest
from tests.conftest import Http
from tests.fault.rig import REPO, Proc, _env
from tests.uploads.conftest import (
    CHEN,
    LI,
    OSIMERTINIB,
    PHARMACISTS,
    ZHANG,
    fresh_codes,
    install_demo_list,
    new_prescription,
)

PHARMACY = f"P3601029{secrets.randbelow(10000):04d}"
WAIT_S = 30.0      # a bound for the service's own loop, never a timing assertion


def _toml(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_config(path: Path, *, sandbox_url: str, counter_no: int, reconcile: dict) -> Path:
    lines = ["[store]", f'fixmedins_code = "{PHARMACY}"', f"counter_no = {counter_no}", "", "[nhsa]",
             f'url = "{sandbox_url}"', "timeout_s = 3", "", "[retention]", 'at = ""', "", "[reconcile]", 'at = ""']
    lines += [f"{k} = {_toml(v)}" for k, v in reconcile.items()]
    for p in PHARMACISTS:
        lines += ["", "[[pharmacists]]"] + [f"{k} = {_toml(v)}" for k, v in p.items()]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


class Till:
    """One counter process and its POS."""

    def __init__(self, tmp: Path, name: str, sandbox: Http, procs: list, **config):
        self.data = tmp / name
        install_demo_list(self.data)
        self.config = write_config(tmp / f"{name}.toml", sandbox_url=sandbox.base, **config)
        self.proc = Proc([sys.executable, "-m", "plugin.cli", "serve", "--port", "0", "--data-dir", str(self.data),
                          "--config", str(self.config)], _env({}), tmp / "logs", name, "rxlane")
        procs.append(self.proc)
        self.http, self.sandbox = Http(self.proc.url), sandbox
        assert self.http.put("/v1/pharmacist", {"pharmacist": LI, "checker": CHEN}).status_code == 200
        r = self.http.post("/v1/stock", {"med_list_codg": OSIMERTINIB["med_list_codg"], "lot": "B2409117",
                                         "manu_date": "2024-09-11", "expy_end": "2027-08-31",
                                         "prdr_name": "示例制药有限公司"})
        assert r.status_code == 201, r.text

    def ring_up(self, **line) -> dict:
        hi_rxno = new_prescription(self.sandbox)
        ref = self.http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]}).json()
        listed = self.http.get(f"/v1/prescriptions?patient_ref={ref['patient_ref']}").json()["prescriptions"]
        assert hi_rxno in {p["hi_rxno"] for p in listed}
        r = self.http.post("/v1/sales", {"patient_ref": ref["patient_ref"], "hi_rxno": hi_rxno, "lines": [{
            "med_list_codg": OSIMERTINIB["med_list_codg"], "qty": "1", "price": OSIMERTINIB["price"],
            "trace_codes": fresh_codes(1), **line}]})
        assert r.status_code == 201, r.text
        return r.json()

    def sell(self, **line) -> dict:
        sale = self.ring_up(**line)
        r = self.http.post(f"/v1/sales/{sale['id']}/settle")
        assert r.status_code == 200, r.text
        return r.json()

    def until(self, check, what: str):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"{self.proc.name}: {what} did not happen")

    def settled_down(self) -> dict:
        def calm():
            h = self.http.get("/v1/health").json()
            return h if h["in_doubt"] == 0 and h["outbox"]["pending"] == 0 else None
        try:
            return self.until(calm, "recovery and uploads")
        except AssertionError:
            from plugin.store import Ledger
            ledger = Ledger(self.data / "ledger.sqlite3")
            rows = [(r.id, r.infno, r.state, r.attempts, r.next_at, r.last_error) for r in ledger.outbox.rows()]
            ledger.close()
            raise AssertionError(f"{self.proc.name}: uploads did not settle: {rows}; {self.proc.tail()}") from None


@pytest.fixture
def day(tmp_path):
    procs: list[Proc] = []
    sandbox = Proc([sys.executable, "-m", "plugin.cli", "sandbox", "--port", "0"], _env({}), tmp_path / "logs",
                   "sandbox", "sandbox")
    procs.append(sandbox)
    try:
        token = "rxl_" + secrets.token_urlsafe(32)
        follow = {"lead_token_sha256": digest(token)}
        b = Till(tmp_path, "counter-b", Http(sandbox.url), procs, counter_no=2, reconcile=follow)
        c = Till(tmp_path, "counter-c", Http(sandbox.url), procs, counter_no=3, reconcile=follow)
        a = Till(tmp_path, "counter-a", Http(sandbox.url), procs, counter_no=1,
                 reconcile={"peers": [b.http.base, c.http.base], "peer_token": token})
        yield a, b, c, Http(sandbox.url)
    finally:
        for proc in procs:
            proc.kill()


def test_a_store_day_on_three_counters_reconciles_once_with_no_false_difference(day):
    a, b, c, insurer = day
    sales = [a.sell(), b.sell(), c.sell(), a.sell(), b.sell()]
    refunded = b.sell()
    assert b.http.post(f"/v1/sales/{refunded['id']}/refund", {"reason": "患者退药"}).status_code == 200

    # a 3505 the insurer refuses: shown on the sale, in health and by `rxlane outbox` within one drain cycle
    refused = c.sell(lot="B1", manu_date="2023-01-01", expy_end="2024-01-31")
    view = c.until(lambda: (v := c.http.get(f"/v1/sales/{refused['id']}").json())["uploads"]["state"] == "refused"
                   and v, "the refusal")
    assert "过期" in view["uploads"]["refused"][0]["err_msg"]
    health = c.http.get("/v1/health").json()
    assert "upload_refused" in health["problems"] and \
        any(p["sale_id"] == refused["id"] for p in health["outbox"]["problems"])
    listing = subprocess.run([sys.executable, "-m", "plugin.cli", "outbox", "--data-dir", str(c.data), "--config",
                              str(c.config)], capture_output=True, text=True, cwd=REPO, env=_env({}), timeout=60,
                             check=False)
    assert listing.returncode == 0, listing.stderr
    out = json.loads(listing.stdout)
    assert out["gateway"]["source"].startswith("the running service")
    assert any(r["sale_id"] == refused["id"] and r["fix"]["code"] == "UPLOAD_REFUSED" for r in out["rows"])

    # an in-doubt settlement, reversed by the counter's own recovery loop
    doubtful = a.ring_up()
    assert insurer.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1}).status_code == 201
    r = a.http.post(f"/v1/sales/{doubtful['id']}/settle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT"
    a.until(lambda: a.http.get(f"/v1/sales/{doubtful['id']}").json()["state"] == "reversed", "the reversal")

    for till in (a, b, c):
        till.settled_down()
    before = len(insurer.get("/sandbox/messages").json()["messages"])
    r = a.http.post("/v1/reconciliation", {"date": date.today().isoformat()})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] and report["differences"] == [] and report["remaining"] == [], report["differences"]
    assert report["counters"] == 3 and report["sales"] == len(sales) + 2     # the refunded and refused ones too
    after = [e["infno"] for e in insurer.get("/sandbox/messages").json()["messages"][before:]
             if e["verdict"] == "accepted" and e["infno"] != "9001"]
    assert after == ["3201", "9101", "3202", "9102"]                          # one reconciliation for the store
    for member in (b, c):
        r = member.http.post("/v1/reconciliation", {"date": date.today().isoformat()})
        assert r.status_code == 409 and r.json()["error"]["code"] == "RECONCILED_BY_LEAD"
