"""The bench rig: a sandbox insurer and a running rxlane on loopback ports, seeded for a 3-line counter flow.

Shared by bench_flow, bench_durability and bench_concurrency so that they measure the same flow the same way:
real HTTP to rxlane (waitress, as `rxlane serve` runs it), real HTTP from rxlane to the sandbox. The demo books have
one drug per filing, so the rig seeds three cheap drugs of its own through the sandbox admin API (docs/sandbox.md) and a
fresh patient + prescription per flow (a circulated prescription is dispensed once; a fresh patient keeps the
year-to-date accumulators, and so the split's cost, the same for every flow).
"""
from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from collections.abc import Callable

import requests

INSTITUTION = "H36011100301"
PHYSICIAN = "D360111003001"
# Three class A/B drugs priced so a few thousand flows stay far below the annual cap (the split path is constant).
DRUGS: list[dict[str, Any]] = [
    {"med_list_codg": "XL01BENCH0000000000001", "generic_name": "测试甲替尼", "drug_name": "测试甲替尼片",
     "spec": "10mg×30片/盒", "category": "A", "payment_standard": "120.00", "trace_prefixes": ["8691001"]},
    {"med_list_codg": "XL01BENCH0000000000002", "generic_name": "测试乙单抗", "drug_name": "测试乙单抗注射液",
     "spec": "100mg/支", "category": "B", "payment_standard": "85.50", "trace_prefixes": ["8691002"]},
    {"med_list_codg": "XL01BENCH0000000000003", "generic_name": "测试丙司他", "drug_name": "测试丙司他胶囊",
     "spec": "5mg×14粒/盒", "category": "A", "payment_standard": "64.20", "trace_prefixes": ["8691003"]},
]
QTY_PER_LINE = 2          # 3 lines × 2 packs = 6 traceability codes per sale
_numbers = itertools.count(1)
_lock = threading.Lock()


def _next() -> int:
    with _lock:
        return next(_numbers)


@dataclass
class Patient:
    """One seeded insured person with a valid 3-line circulated prescription."""
    psn_no: str
    certno: str
    hi_rxno: str
    codes: list[list[str]] = field(default_factory=list)   # per line, QTY_PER_LINE fresh pack codes


def _certno(n: int) -> str:
    """An 18-digit ID number, unique per n (< 18 million), with a real birth date and a valid GB 11643 check
    character (rxlane refuses anything else before asking the insurer)."""
    from stdnum.cn import ric
    born = date(1940, 1, 1) + timedelta(days=n // 1000)
    body = f"360102{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def list_csv(today: date | None = None) -> bytes:
    """The rig's drugs (and the demo's) as a province publishes its dual-channel list: rxlane reads category,
    payment standard, agreement dates and pack prefixes from the imported list, never from the gateway."""
    from adapters.sandbox.demo import demo_list_csv
    today = today or date.today()
    rows = [",".join([d["med_list_codg"], d["generic_name"], d["drug_name"], "片剂", d["spec"], d["category"],
                      d["payment_standard"], (today - timedelta(days=30)).isoformat(),
                      (today + timedelta(days=365)).isoformat(), "", d["trace_prefixes"][0], ""]) for d in DRUGS]
    return demo_list_csv(today).rstrip(b"\n") + b"\n" + "\n".join(rows).encode("utf-8") + b"\n"


def install_list(data_dir: Path, region: str = "jiangxi") -> None:
    """Install ``list_csv`` as the store's imported list in ``data_dir`` (what `rxlane catalog import` does)."""
    from plugin.dclist import install_document, installed_path, load_region_mapping, read_province_file
    from plugin.policy import load_region
    imported = read_province_file(list_csv(), "bench-list.csv", mapping=load_region_mapping(""),
                                  categories=set(load_region(region).categories), source="bench", region=region)
    install_document(installed_path(data_dir), imported.document)


class SandboxSeeder:
    """Seeds one or more sandboxes identically through the admin API (so a replay sees the same books)."""

    def __init__(self, *urls: str):
        self.urls = urls
        self.session = requests.Session()
        today = date.today()
        for url in urls:
            for drug in DRUGS:
                self._post(url, "/sandbox/catalog",
                           {**drug, "agreement_end": (today + timedelta(days=365)).isoformat()})

    def _post(self, url: str, path: str, body: dict) -> None:
        r = self.session.post(url + path, json=body, timeout=30)
        if r.status_code >= 300:
            raise RuntimeError(f"sandbox seeding {path}: {r.status_code} {r.text[:300]}")

    def patient(self) -> Patient:
        n = _next()
        today = date.today()
        psn_no = f"3601{n:016d}"
        certno = _certno(n)
        hi_rxno = f"HXBENCH{n:015d}"
        person = {"psn_no": psn_no, "certno": certno, "psn_name": "测试患者", "insutype": "310",
                  "insuplc_admdvs": "360102", "balc": "100000.00",
                  "ytd": {"deductible_paid": "0", "fund_paid": "0", "selfpay": "0", "supplementary_paid": "0"}}
        rx = {"hi_rxno": hi_rxno, "psn_no": psn_no, "institution_code": INSTITUTION, "physician_code": PHYSICIAN,
              "issued_at": datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "valid_days": 3,
              "lines": [{"med_list_codg": d["med_list_codg"], "qty": str(QTY_PER_LINE)} for d in DRUGS]}
        for url in self.urls:
            self._post(url, "/sandbox/persons", person)
            for drug in DRUGS:
                self._post(url, "/sandbox/filings", {
                    "psn_no": psn_no, "generic_name": drug["generic_name"], "institution_code": INSTITUTION,
                    "hosp_lv": "3", "physicians": [PHYSICIAN], "begin": (today - timedelta(days=30)).isoformat(),
                    "end": (today + timedelta(days=300)).isoformat(), "review": "none"})
            self._post(url, "/sandbox/prescriptions", rx)
        codes = [[f"{d['trace_prefixes'][0]}{n:08d}{k:05d}" for k in range(QTY_PER_LINE)] for d in DRUGS]
        return Patient(psn_no=psn_no, certno=certno, hi_rxno=hi_rxno, codes=codes)


def start_sandbox() -> Any:
    from adapters.sandbox.server import start_sandbox as start
    return start("127.0.0.1", 0, demo=True, policy="jiangxi")


class CommitMeter:
    """Counts and times the ledger's COMMITs. With WAL and synchronous=FULL each COMMIT is one fdatasync of the
    -wal file (checkpoints add more), so the count is the flow's fsync budget and the time its cost on this disk.
    Installed by wrapping the ledger's connection, not by editing the ledger."""

    def __init__(self) -> None:
        self.commits = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def install(self, ledger: Any) -> CommitMeter:
        ledger.db.conn = _MeteredConnection(ledger.db.conn, self)
        return self

    def reset(self) -> None:
        with self._lock:
            self.commits, self.seconds = 0, 0.0


class _MeteredConnection:
    def __init__(self, conn: Any, meter: CommitMeter):
        self._conn = conn
        self._meter = meter

    def execute(self, sql: str, *args: Any) -> Any:
        if sql != "COMMIT":
            return self._conn.execute(sql, *args)
        started = time.perf_counter()
        try:
            return self._conn.execute(sql, *args)
        finally:
            elapsed = time.perf_counter() - started
            with self._meter._lock:
                self._meter.commits += 1
                self._meter.seconds += elapsed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class RequestProfiler:
    """WSGI middleware: cProfile each request in the waitress thread that serves it (cProfile sees one thread),
    and merge the results; `top()` names the slowest parts of the flow for the README."""

    def __init__(self, app: Any):
        import cProfile
        self._app = app
        self._profile = cProfile.Profile
        self.stats: Any = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        profile = self._profile()
        profile.enable()
        try:
            return list(self._app(environ, start_response))
        finally:
            profile.disable()
            self.add(profile)

    def add(self, profile: Any) -> None:
        import pstats
        with self._lock:
            if self.stats is None:
                self.stats = pstats.Stats(profile)
            else:
                self.stats.add(profile)

    def top(self, n: int = 15, sort: str = "cumulative") -> list[dict]:
        if self.stats is None:
            return []
        rows = []
        for (path, line, func), (_cc, nc, tt, ct, _callers) in self.stats.stats.items():
            rows.append({"function": f"{Path(path).name}:{line}:{func}", "calls": nc,
                         "own_s": round(tt, 4), "cumulative_s": round(ct, 4)})
        rows.sort(key=lambda r: r["cumulative_s" if sort == "cumulative" else "own_s"], reverse=True)
        return rows[:n]


def serve_in_thread(server: Any, name: str) -> threading.Thread:
    """Run a waitress server on a daemon thread (closing its socket later ends it, with an error on some
    platforms, which is swallowed)."""
    def serve() -> None:
        try:
            server.run()
        except Exception:
            pass
    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    return thread


def durable_journal(path: Path) -> tuple[sqlite3.Connection, Callable[[str, str], None]]:
    """A bare SQLite file as the ledger opens its own (WAL, synchronous=FULL) with one journal table, and a function
    committing one row in its own transaction: the least a journaled message costs this disk."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE journal (msgid TEXT PRIMARY KEY, body TEXT NOT NULL)")

    def commit(msgid: str, body: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO journal VALUES (?, ?)", (msgid, body))
        conn.execute("COMMIT")
    return conn, commit


class AppClock:
    """WSGI middleware summing the seconds spent inside rxlane's app (a JSON answer's body is rendered there): with
    the insurer's waits taken off, rxlane's own time as the server sees it, without the HTTP around it. The answer's
    iterable is passed on untouched (an event stream must not be drained here)."""

    def __init__(self, app: Any):
        self._app = app
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._app(environ, start_response)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.seconds += elapsed


class Rxlane:
    """rxlane in this process behind waitress on a free port (as `rxlane serve` runs it), without the background
    recovery loop: the flow drains the outbox itself so the drain is timed and nothing else runs beside it."""

    def __init__(self, data_dir: Path, gateway_url: str, *, workers: int = 4, profile: bool = False):
        import waitress

        from plugin.app import create_app
        from plugin.config import load_settings
        from plugin.service import build_service
        from tests.store_setup import PHARMACISTS, ready_for_uploads
        settings = load_settings(None, environ={}, overrides={
            "server": {"data_dir": str(data_dir), "workers": workers, "identify_per_minute": 10000},
            "nhsa": {"url": gateway_url, "timeout_s": 30}, "pharmacists": PHARMACISTS})
        install_list(data_dir)
        self.svc = build_service(settings)
        ready_for_uploads(self.svc)   # pharmacists on duty and a batch per drug: the uploads leave, as in a store
        self._waits: list[tuple[float, float]] = []
        self._local = threading.local()
        self.svc.upstream._on_latency = self._waited
        self.commits = CommitMeter().install(self.svc.ledger)
        app: Any = create_app(self.svc)
        self.profiler = RequestProfiler(app) if profile else None
        self.app_clock = AppClock(self.profiler or app)
        self.server = waitress.create_server(self.app_clock, host="127.0.0.1", port=0, threads=workers,
                                             ident="rxlane-bench")
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = serve_in_thread(self.server, "rxlane-bench")
        self.http = pos_session()

    def _waited(self, infno: str, seconds: float) -> None:
        end = time.perf_counter()
        with _lock:
            self._waits.append((end - seconds, end))

    @property
    def upstream_s(self) -> float:
        """Seconds spent waiting on the insurer since the last reset: the union of the waits, so queries sent
        beside one another count once (their overlap is not rxlane's own time either)."""
        with _lock:
            spans = sorted(self._waits)
        total, reach = 0.0, float("-inf")
        for start, end in spans:
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    @upstream_s.setter
    def upstream_s(self, value: float) -> None:
        if value != 0:
            raise ValueError("upstream_s can only be reset to 0")
        with _lock:
            self._waits = []

    def close(self) -> None:
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self.server.close()
        self.svc.close()


def pos_session() -> requests.Session:
    """The POS's HTTP client. No proxy/netrc lookup from the environment per request (`trust_env`), which costs
    requests ~0.5 ms a call and is the measuring client's cost, not rxlane's."""
    session = requests.Session()
    session.trust_env = False
    return session


def _ok(r: requests.Response, status: int = 200) -> dict:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.path_url}: {r.status_code} {r.text[:400]}")
    return r.json()


def counter_flow(rx: Any, patient: Patient, http: requests.Session | None = None,
                 steps: dict[str, float] | None = None) -> dict:
    """identify → prescriptions → sale (3 lines, 6 codes) → presettle → settle; returns the settled sale.

    `rx` is anything with `.url` (Rxlane, RemoteRxlane); `steps` collects each step's wall seconds."""
    http = http or rx.http
    base = rx.url
    steps = {} if steps is None else steps
    lines = [{"med_list_codg": d["med_list_codg"], "qty": str(QTY_PER_LINE), "price": d["payment_standard"],
              "trace_codes": codes} for d, codes in zip(DRUGS, patient.codes, strict=True)]

    def step(name: str, call: Any, status: int = 200) -> dict:
        started = time.perf_counter()
        answer = _ok(call(), status)
        steps[name] = time.perf_counter() - started
        return answer

    who = step("identify", lambda: http.post(base + "/v1/patients/identify",
                                             json={"cert_type": "id_card", "cert_no": patient.certno}, timeout=60))
    ref = who["patient_ref"]
    rxs = step("prescriptions", lambda: http.get(base + "/v1/prescriptions", params={"patient_ref": ref},
                                                 timeout=60))
    mine = next(p for p in rxs["prescriptions"] if p["hi_rxno"] == patient.hi_rxno)
    sale = step("sale", lambda: http.post(base + "/v1/sales", json={"patient_ref": ref, "hi_rxno": mine["hi_rxno"],
                                                                     "acct_used": True, "lines": lines},
                                          timeout=60), 201)
    step("presettle", lambda: http.post(base + f"/v1/sales/{sale['id']}/presettle", timeout=60))
    done = step("settle", lambda: http.post(base + f"/v1/sales/{sale['id']}/settle", timeout=60))
    if done["state"] != "settled":
        raise RuntimeError(f"sale {sale['id']} ended {done['state']}")
    return done


def drain(rx: Rxlane) -> int:
    delivered = 0
    while True:
        n = rx.svc.outbox.drain()
        delivered += n
        if n == 0:
            return delivered


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) — with a few hundred samples, no interpolation pretends precision."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def clock() -> float:
    return time.perf_counter()


def prepare_sales(rx: Rxlane, seeder: SandboxSeeder, n: int, http: requests.Session | None = None) -> list[str]:
    """`n` draft sales (identified patient, prescription, 3 lines, 6 codes), ready to settle; drains the warm-up
    (sign-in, catalogue) with one settled sale first so the measured settlements are all alike."""
    http = http or rx.http
    counter_flow(rx, seeder.patient(), http)
    drain(rx)
    ids = []
    for _ in range(n):
        patient = seeder.patient()
        who = _ok(http.post(rx.url + "/v1/patients/identify",
                            json={"cert_type": "id_card", "cert_no": patient.certno}, timeout=60))
        _ok(http.get(rx.url + "/v1/prescriptions", params={"patient_ref": who["patient_ref"]}, timeout=60))
        lines = [{"med_list_codg": d["med_list_codg"], "qty": str(QTY_PER_LINE), "price": d["payment_standard"],
                  "trace_codes": codes} for d, codes in zip(DRUGS, patient.codes, strict=True)]
        sale = _ok(http.post(rx.url + "/v1/sales", json={"patient_ref": who["patient_ref"],
                                                         "hi_rxno": patient.hi_rxno, "acct_used": True,
                                                         "lines": lines}, timeout=60), 201)
        ids.append(sale["id"])
    return ids


def settle(rx: Rxlane, sale_id: str, http: requests.Session | None = None) -> requests.Response:
    r = (http or rx.http).post(rx.url + f"/v1/sales/{sale_id}/settle", timeout=60)
    if r.status_code != 200 or r.json().get("state") != "settled":
        raise RuntimeError(f"settle {sale_id}: {r.status_code} {r.text[:400]}")
    return r


class Serve:
    """`rxlane serve` as a subprocess (waitress, embedded sandbox), as a counter PC runs it; stderr goes to a file
    so the concurrency bench can scan it for `database is locked`."""

    def __init__(self, data_dir: Path, *, workers: int = 8, extra: tuple[str, ...] = ()):
        import subprocess
        import sys
        data_dir.mkdir(parents=True, exist_ok=True)
        install_list(data_dir)       # before serve: the embedded demo's list is installed only where none is
        self.stderr_path = data_dir / "serve.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.started = time.perf_counter()
        # eight simulated terminals share one loopback caller: lift the per-terminal identify limit
        env = {**os.environ, "RXLANE_SERVER__IDENTIFY_PER_MINUTE": "10000"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plugin.cli", "serve", "--port", "0", "--sandbox-port", "0",
             "--data-dir", str(data_dir), "--workers", str(workers), *extra],
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        self.url = self.sandbox_url = ""
        assert self.proc.stdout is not None
        while not (self.url and self.sandbox_url):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"rxlane serve exited: {self.stderr_path.read_text()[-500:]}")
            if line.startswith("rxlane listening on "):
                self.url = line.split()[-1]
            elif line.startswith("sandbox listening on "):
                self.sandbox_url = line.split()[-1]
        self.pid = self.proc.pid

    def wait_healthy(self, http: requests.Session, timeout: float = 30) -> float:
        """Seconds from spawn to the first `200` from /v1/health."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                if http.get(self.url + "/v1/health", timeout=5).status_code == 200:
                    return time.perf_counter() - self.started
            except requests.ConnectionError:
                pass
            time.sleep(0.005)
        raise RuntimeError("rxlane serve never answered /v1/health")

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def stop(self) -> str:
        import signal
        import subprocess
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()
        return self.stderr_path.read_text(errors="replace")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class RemoteRxlane:
    """The bits of `Rxlane` that counter_flow uses, for a `Serve` subprocess (the outbox drains itself there)."""

    def __init__(self, url: str):
        self.url = url
        self.http = pos_session()
