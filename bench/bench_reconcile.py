"""The daily reconciliation of a store with three counters × 500 sales (docs/reconciliation.md): the lead gathers
the other counters' rows over HTTP, sends 3201, uploads the detail file (9101), sends 3202 and downloads the result
file (9102), then compares — against the sandbox insurer on loopback.

Baseline, same run: reading the same rows from the three ledgers directly (``plugin.reconcile.day_rows`` on each),
the least any reconciliation must do. Figures: the whole run; rxlane's own part of it (the run minus the time spent
waiting on the insurer, measured at the gateway client); the gathering; each as a ratio to the baseline. The sales
are made through the POS API first (not timed): a fresh circulated prescription each, settled, uploads delivered.
"""
from __future__ import annotations

import contextlib
import statistics
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench._rig import ms, pos_session, start_sandbox

DRUG = {"med_list_codg": "XL01EBA341A001010100701", "price": "4837.00", "prefix": "8690701",
        "institution_code": "H36011100301", "physician_code": "D360111003001"}
PATIENT = {"psn_no": "36010000000000000101", "certno": "360121196805122010"}
COUNTERS = 3


class Counter:
    """rxlane in this process on a free port (werkzeug, threaded), with the demo list and a pharmacist on duty."""

    def __init__(self, root: Path, name: str, sandbox_url: str, **sections: Any):
        from werkzeug.serving import make_server

        from plugin.app import create_app
        from plugin.config import load_settings
        from plugin.service import build_service
        from tests.uploads.conftest import PHARMACISTS, install_demo_list
        data = root / name
        install_demo_list(data)
        overrides: dict[str, Any] = {"server": {"data_dir": str(data), "identify_per_minute": 10000},
                                     "nhsa": {"url": sandbox_url, "timeout_s": 30}, "pharmacists": PHARMACISTS,
                                     **sections}
        self.svc = build_service(load_settings(None, environ={}, overrides=overrides))
        self.waited = 0.0
        self._lock = threading.Lock()
        self.svc.upstream._on_latency = self._wait
        self.server = make_server("127.0.0.1", 0, create_app(self.svc), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.http = pos_session()
        _ok(self.http.put(self.url + "/v1/pharmacist", json={"pharmacist": PHARMACISTS[0]["prac_cert_no"],
                                                            "checker": PHARMACISTS[1]["prac_cert_no"]}))
        _ok(self.http.post(self.url + "/v1/stock", json={
            "med_list_codg": DRUG["med_list_codg"], "lot": "B2409117", "manu_date": "2024-09-11",
            "expy_end": "2027-08-31", "prdr_name": "示例制药有限公司"}), 201)

    def _wait(self, infno: str, seconds: float) -> None:
        with self._lock:
            self.waited += seconds

    def close(self) -> None:
        self.server.shutdown()
        self.svc.close()


def _ok(r: requests.Response, status: int = 200) -> dict:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.path_url}: {r.status_code} {r.text[:300]}")
    return r.json()


def sell_day(counter: Counter, sandbox: requests.Session, sandbox_url: str, n: int, first: int) -> None:
    """``n`` settled sales on one counter, each on its own prescription (issued a second apart: a listing's
    prescription is known by its time), then every upload delivered."""
    issued0 = datetime.now().replace(microsecond=0) - timedelta(hours=20)
    rxnos = []
    for k in range(n):
        hi_rxno = f"HXBR{first + k:018d}"
        _ok(sandbox.post(sandbox_url + "/sandbox/prescriptions", json={
            "hi_rxno": hi_rxno, "psn_no": PATIENT["psn_no"], "institution_code": DRUG["institution_code"],
            "physician_code": DRUG["physician_code"], "valid_days": 3,
            "issued_at": (issued0 + timedelta(seconds=first + k)).strftime("%Y-%m-%d %H:%M:%S"),
            "lines": [{"med_list_codg": DRUG["med_list_codg"], "qty": "1"}]}), 201)
        rxnos.append(hi_rxno)
    ref = _ok(counter.http.post(counter.url + "/v1/patients/identify",
                                json={"cert_type": "id_card", "cert_no": PATIENT["certno"]}))["patient_ref"]
    _ok(counter.http.get(counter.url + "/v1/prescriptions", params={"patient_ref": ref}, timeout=600))
    for k, hi_rxno in enumerate(rxnos):
        code = f"{DRUG['prefix']}{(first + k) % 10 ** 13:013d}"
        sale = _ok(counter.http.post(counter.url + "/v1/sales", json={
            "patient_ref": ref, "hi_rxno": hi_rxno, "lines": [{"med_list_codg": DRUG["med_list_codg"], "qty": "1",
                                                               "price": DRUG["price"], "trace_codes": [code]}]}), 201)
        _ok(counter.http.post(counter.url + f"/v1/sales/{sale['id']}/settle"))
    while counter.svc.outbox.drain():
        pass


def run(quick: bool = False) -> dict[str, Any]:
    from plugin import tokens
    from plugin.reconcile import day_rows
    per_counter = 10 if quick else 500
    repeats = 2 if quick else 5
    root = Path(tempfile.mkdtemp(prefix="rxlane-bench-reconcile-"))
    sandbox = start_sandbox()
    session = pos_session()
    counters: list[Counter] = []
    try:
        token = "rxl_" + "b" * 40
        follow = {"reconcile": {"lead_token_sha256": tokens.digest(token)}}
        others = [Counter(root, f"counter-{n}", sandbox.url, store={"counter_no": n}, **follow)
                  for n in range(2, COUNTERS + 1)]
        lead = Counter(root, "counter-1", sandbox.url, store={"counter_no": 1},
                       reconcile={"peers": [c.url for c in others], "peer_token": token})
        counters = [lead, *others]
        for n, counter in enumerate(counters):
            sell_day(counter, session, sandbox.url, per_counter, first=n * per_counter + 1)
        today = date.today()
        profile = lead.svc.upstream.client.profile

        def read_rows() -> int:
            return sum(len(day_rows(c.svc.ledger, today, clr_type=profile.reconcile.clr_type,
                                    setl_optins=c.svc.pharmacy_admdvs)) for c in counters)

        baseline, runs, own, gather = [], [], [], []
        rows = read_rows()
        for _ in range(repeats):
            started = time.perf_counter()
            read_rows()
            baseline.append(time.perf_counter() - started)
            started = time.perf_counter()
            for other in others:
                _ok(session.get(other.url + "/v1/reconciliation/rows", params={"date": today.isoformat()},
                                headers={"Authorization": f"Bearer {token}"}, timeout=60))
            gather.append(time.perf_counter() - started)
            lead.waited = 0.0
            started = time.perf_counter()
            report = _ok(session.post(lead.url + "/v1/reconciliation", json={"date": today.isoformat()},
                                      timeout=600))
            elapsed = time.perf_counter() - started
            runs.append(elapsed)
            own.append(elapsed - lead.waited)
            if not report["ok"] or report["sales"] != rows:
                raise RuntimeError(f"reconciliation not clean: {report['differences'][:3]}")
        base = statistics.median(baseline)
        return {"counters": COUNTERS, "sales_per_counter": per_counter, "rows": rows, "runs": repeats,
                "reconcile_ms_median": ms(statistics.median(runs)), "own_ms_median": ms(statistics.median(own)),
                "gather_ms_median": ms(statistics.median(gather)), "read_rows_ms_median": ms(base),
                "ratio_reconcile_to_read": round(statistics.median(runs) / base, 1),
                "ratio_own_to_read": round(statistics.median(own) / base, 1),
                "ratio_gather_to_read": round(statistics.median(gather) / base, 1)}
    finally:
        for counter in counters:
            with contextlib.suppress(Exception):   # a bench teardown must not hide the figures' error
                counter.close()
        sandbox.shutdown()
