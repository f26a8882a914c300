"""The fault suite's rig (docs/sandbox.md, docs/architecture.md): the sandbox insurer and rxlane as *separate
processes*, so rxlane can be SIGKILLed — by itself at a named crash point (``RXLANE_CRASH_AT``) or by the test — while
the insurer keeps its books; a POS that completes what it set out to do after the restart; and one check that holds the
two ledgers against each other after every scenario.

Every process started here is killed in fixture teardown. Each scenario uses its own pharmacy code
(``RXLANE_STORE__FIXMEDINS_CODE``) and data dir, so scenarios can share one sandbox and run side by side, and the
sandbox's books (and its 3201/3202) can be read per scenario.
"""
from __future__ import annotations

import itertools
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from collections.abc import Callable

import requests

from tests.conftest import Http

REPO = Path(__file__).resolve().parents[2]
PHARMACY_PREFIX = "P3601020"                 # + 4 digits: one 12-character pharmacy code per scenario
ZHANG = {"psn_no": "36010000000000000101", "certno": "360121196805122010"}
OSIMERTINIB = {"med_list_codg": "XL01EBA341A001010100701", "price": "4837.00", "prefix": "8690701",
               "institution_code": "H36011100301", "physician_code": "D360111003001"}
RECOVERY_WAIT_S = 45.0
PHARMACISTS = [{"name": "李志强", "certno": "360103198507091013", "prac_cert_no": "ZY3601202100123"},
               {"name": "陈立", "certno": "360111199001011236", "prac_cert_no": "ZY3601202100456"}]

_codes = itertools.count(random.randrange(10 ** 9, 10 ** 11))
_pharmacies = itertools.count(1)
_rxnos = itertools.count(random.randrange(10 ** 6, 10 ** 7))
_issue_offsets = itertools.count()
_ISSUED_FROM = datetime.now() - timedelta(hours=1)


# -- the summary line (docs/architecture.md: "0 lost, 0 duplicated") ---------------------------------------------------
@dataclass
class Tally:
    crash_points: set[str] = field(default_factory=set)
    scenarios: set[str] = field(default_factory=set)
    sales: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    known: int = 0

    def record(self, scenario: str, audit: BooksAudit, crash_point: str | None = None,
               known: bool = False) -> None:
        """`known`: a scenario marked xfail for a reported gap; its problems are listed, not counted as money."""
        with self.lock:
            self.scenarios.add(scenario)
            if crash_point:
                self.crash_points.add(crash_point)
            self.sales += audit.sales
            if known:
                self.known += int(bool(audit.problems))
            else:
                self.lost += audit.lost
                self.duplicated += audit.duplicated
            self.problems += [f"{'[known gap] ' if known else ''}{scenario}: {p}" for p in audit.problems]


TALLY = Tally()


def write_summary(terminalreporter) -> None:
    if not TALLY.scenarios:
        return
    terminalreporter.write_sep("-", "fault suite")
    terminalreporter.write_line(
        f"fault suite: {len(TALLY.crash_points)} crash points, {len(TALLY.scenarios)} scenarios, "
        f"{TALLY.sales} sales checked, {TALLY.lost} lost, {TALLY.duplicated} duplicated"
        + (f" ({TALLY.known} known-gap scenarios, xfail)" if TALLY.known else ""))
    for problem in TALLY.problems[:20]:
        terminalreporter.write_line(f"  {problem}")


# -- processes -----------------------------------------------------------------------------------------------------
def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RXLANE_")}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    env.update(extra)
    return env


class Proc:
    """One child process whose output goes to files (a full pipe never blocks it); `url` is parsed from its
    'X listening on http://…' line."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path, name: str, banner: str):
        logs.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.out_path, self.err_path = logs / f"{name}.out", logs / f"{name}.err"
        self._out, self._err = open(self.out_path, "wb"), open(self.err_path, "wb")
        self.p = subprocess.Popen(args, stdout=self._out, stderr=self._err, env=env, cwd=REPO,
                                  start_new_session=True)
        self.url = self._wait_banner(banner)

    def _wait_banner(self, banner: str, timeout: float = 30.0) -> str:
        pattern = re.compile(re.escape(banner) + r" listening on (http://\S+)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pattern.search(self.out_path.read_text("utf-8", "replace"))
            if m:
                return m.group(1)
            if self.p.poll() is not None:
                m = pattern.search(self.out_path.read_text("utf-8", "replace"))
                if m:   # it printed its address and then died (a crash point reached at start-up)
                    return m.group(1)
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not start: {self.tail()}")

    def tail(self, n: int = 2000) -> str:
        return self.err_path.read_text("utf-8", "replace")[-n:]

    def died(self, timeout: float) -> bool:
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._out, self._err):
            f.close()


class Launcher:
    """Starts sandbox and rxlane processes and remembers every one of them for teardown."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[Proc] = []
        self._lock = threading.Lock()
        self._n = itertools.count(1)

    def _track(self, proc: Proc) -> Proc:
        with self._lock:
            self.procs.append(proc)
        return proc

    def sandbox(self) -> Sandbox:
        name = f"sandbox-{next(self._n)}"
        proc = Proc([sys.executable, "-m", "plugin.cli", "sandbox", "--port", "0"], _env({}), self.root / "logs",
                    name, "sandbox")
        return Sandbox(self._track(proc))

    def rxlane(self, data_dir: Path, sandbox: Sandbox, pharmacy: str, *, crash_at: str | None = None,
               timeout_s: float = 2, env: dict[str, str] | None = None) -> Rxlane:
        extra = {"RXLANE_NHSA__URL": sandbox.url, "RXLANE_NHSA__TIMEOUT_S": str(timeout_s),
                 "RXLANE_STORE__FIXMEDINS_CODE": pharmacy, **(env or {})}
        if crash_at:
            extra["RXLANE_CRASH_AT"] = crash_at
        name = f"rxlane-{next(self._n)}-{pharmacy}{'-' + crash_at if crash_at else ''}"
        roster = self.root / "roster.toml"     # the store's pharmacists: the uploads name who was on duty
        roster.write_text("".join(f'[[pharmacists]]\nname = "{p["name"]}"\ncertno = "{p["certno"]}"\n'
                                  f'prac_cert_no = "{p["prac_cert_no"]}"\n\n' for p in PHARMACISTS), "utf-8")
        proc = Proc([sys.executable, "-m", "plugin.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
                     "--config", str(roster)], _env(extra), self.root / "logs", name, "rxlane")
        rx = Rxlane(self._track(proc), pharmacy)
        if proc.p.poll() is None:
            swallow_crash(rx.ready_for_uploads)
        return rx

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()


class Sandbox:
    def __init__(self, proc: Proc):
        self.proc = proc
        self.url = proc.url
        self.http = Http(proc.url)

    def fault(self, infno: str, mode: str, times: int = 1, delay_ms: int | None = None) -> None:
        body: dict[str, Any] = {"infno": infno, "mode": mode, "times": times}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        r = self.http.post("/sandbox/faults", body)
        assert r.status_code == 201, r.text

    def books(self, pharmacy: str) -> dict[str, Any]:
        books = self.http.get("/sandbox/ledger").json()
        mine = [s for s in books["settlements"] if s["fixmedins_code"] == pharmacy]
        setl_ids = {s["setl_id"] for s in mine}
        return {"settlements": mine, "uploads": [u for u in books["uploads"] if u.get("setl_id") in setl_ids],
                "faults": books.get("faults", [])}

    def prescription(self, psn_no: str = ZHANG["psn_no"], drug: dict = OSIMERTINIB) -> str:
        """A fresh circulated prescription, so every scenario's sale is eligible whatever ran before."""
        hi_rxno = f"HX3601110030{next(_rxnos):010d}"
        # each its own issue time: a store takes a listed prescription with a kept one's institution and time for
        # the one it already downloaded (plugin/prescriptions.py), so two issued in one second would be one:
        # a second apart counting back from an hour before the run started
        issued = (_ISSUED_FROM - timedelta(seconds=next(_issue_offsets))).strftime("%Y-%m-%d %H:%M:%S")
        r = self.http.post("/sandbox/prescriptions", {
            "hi_rxno": hi_rxno, "psn_no": psn_no, "institution_code": drug["institution_code"],
            "physician_code": drug["physician_code"], "issued_at": issued, "valid_days": 3,
            "lines": [{"med_list_codg": drug["med_list_codg"], "qty": "1"}]})
        assert r.status_code == 201, r.text
        return hi_rxno


class Rxlane:
    def __init__(self, proc: Proc, pharmacy: str):
        self.proc = proc
        self.url = proc.url
        self.pharmacy = pharmacy
        self.http = Http(proc.url)

    def kill(self) -> None:
        self.proc.kill()

    def ready_for_uploads(self) -> None:
        """A pharmacist and a checking pharmacist on duty, the drug's batch on the shelf: what the uploads after a
        sale need beyond the sale (docs/reconciliation.md); without them the uploads wait, by design."""
        self.http.put("/v1/pharmacist", {"pharmacist": PHARMACISTS[0]["prac_cert_no"],
                                         "checker": PHARMACISTS[1]["prac_cert_no"]})
        self.http.post("/v1/stock", {"med_list_codg": OSIMERTINIB["med_list_codg"], "lot": "B2409117",
                                     "manu_date": "2024-09-11", "expy_end": "2027-08-31",
                                     "prdr_name": "示例制药有限公司"})

    def settle_down(self, timeout: float = RECOVERY_WAIT_S) -> dict[str, Any]:
        """Let recovery run: poll health until nothing is in doubt and the outbox is empty (bounded)."""
        deadline = time.monotonic() + timeout
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            health = self.http.get("/v1/health").json()
            if health["in_doubt"] == 0 and health["outbox"]["pending"] == 0:
                return health
            time.sleep(0.25)
        raise AssertionError(f"recovery did not finish in {timeout:.0f}s: in_doubt={health.get('in_doubt')} "
                             f"outbox={health.get('outbox')}")

    def sales_today(self) -> list[dict[str, Any]]:
        day = date.today().isoformat()
        return [self.http.get(f"/v1/sales/{s['id']}").json()
                for s in self.http.get(f"/v1/sales?date={day}").json()["sales"]]


def new_pharmacy() -> str:
    return f"{PHARMACY_PREFIX}{next(_pharmacies):04d}"


def fresh_codes(n: int = 1, prefix: str = OSIMERTINIB["prefix"]) -> list[str]:
    return [f"{prefix}{next(_codes):013d}" for _ in range(n)]


# -- the POS -------------------------------------------------------------------------------------------------------
class Counter:
    """What a POS does for one patient: identify, ring up the sale with its pack codes, presettle, settle (and
    refund when asked). After a crash it looks at the sale and finishes the job — the insurer must then hold
    exactly what rxlane holds."""

    def __init__(self, rx: Rxlane, sandbox: Sandbox):
        self.rx = rx
        self.sandbox = sandbox
        self.codes = fresh_codes(1)
        self.hi_rxno = sandbox.prescription()
        self.patient_ref: str | None = None

    @property
    def http(self) -> Http:
        return self.rx.http

    def identify(self) -> str:
        """Identify the patient and list their prescriptions, as the counter does: a sale may only name a
        prescription downloaded here (7202/7203)."""
        r = self.http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG["certno"]})
        assert r.status_code == 200, r.text
        self.patient_ref = r.json()["patient_ref"]
        listed = self.http.get(f"/v1/prescriptions?patient_ref={self.patient_ref}")
        assert listed.status_code == 200, listed.text
        return self.patient_ref

    def create(self, headers: dict[str, str] | None = None) -> requests.Response:
        return self.http.post("/v1/sales", {
            "patient_ref": self.patient_ref, "hi_rxno": self.hi_rxno, "acct_used": True,
            "lines": [{"med_list_codg": OSIMERTINIB["med_list_codg"], "qty": "1", "price": OSIMERTINIB["price"],
                       "trace_codes": self.codes}]}, headers=headers)

    def ring_up(self) -> str:
        self.identify()
        r = self.create()
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def settle_in_background(self, sale_id: str) -> tuple[threading.Thread, list[requests.Response]]:
        """Send the settlement from a thread and return once the sale is ``settling`` (its 2102 at the insurer) or
        10 s passed: the thread, and the list its answer is appended to when it comes."""
        answers: list[requests.Response] = []
        thread = threading.Thread(target=lambda: answers.append(self.http.post(f"/v1/sales/{sale_id}/settle")))
        thread.start()
        deadline = time.monotonic() + 10
        while self.http.get(f"/v1/sales/{sale_id}").json()["state"] != "settling" and time.monotonic() < deadline:
            time.sleep(0.05)
        return thread, answers

    def finish(self, intent: str) -> None:
        """After a restart: bring the day's sale to `intent` ("settled" or "refunded") the way a pharmacist would."""
        sales = self.rx.sales_today()
        if not sales:
            self.identify()
            r = self.create()
            assert r.status_code == 201, r.text
            sales = [r.json()]
        for sale in sales:
            if sale["state"] in ("draft", "presettled", "reversed"):
                r = self.http.post(f"/v1/sales/{sale['id']}/settle")
                assert r.status_code == 200, r.text
                sale = r.json()
            if intent == "refunded" and sale["state"] == "settled":
                r = self.http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"})
                assert r.status_code == 200, r.text


def swallow_crash(call: Callable[[], Any]) -> Any:
    """Run one POS request against a process that may kill itself during it — before it answers (connection
    refused or reset) or halfway through writing the answer (a truncated body)."""
    try:
        return call()
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return None


# -- the check -----------------------------------------------------------------------------------------------------
MONEY = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")


@dataclass
class BooksAudit:
    sales: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    insurer_states: list[str] = field(default_factory=list)

    def bad(self, what: str, *, lost: bool = False, duplicated: bool = False) -> None:
        self.problems.append(what)
        self.lost += int(lost)
        self.duplicated += int(duplicated)


def audit_books(rx: Rxlane | list[Rxlane], sandbox: Sandbox, reconcile: bool = True) -> BooksAudit:
    """rxlane's ledger against the insurer's, for this scenario's pharmacy (docs/architecture.md):
    each settled sale ↔ exactly one insurer settlement, settled, same amounts, uploaded once with its codes;
    each refunded sale ↔ its settlement cancelled and the codes returned; every other sale ↔ nothing live at the
    insurer; no live insurer settlement without its sale; and the day's reconciliation finds no difference."""
    counters = rx if isinstance(rx, list) else [rx]   # several counters of one pharmacy: their sales together
    audit = BooksAudit()
    sales = [s for c in counters for s in c.sales_today()]
    books = sandbox.books(counters[0].pharmacy)
    theirs = books["settlements"]
    audit.sales = len(sales)
    audit.states = sorted(s["state"] for s in sales)
    audit.insurer_states = sorted(s["state"] for s in theirs)
    claimed: dict[str, str] = {}
    for sale in sales:
        sid, state = sale["id"], sale["state"]
        msgids = {j["msgid"] for j in sale["journal"] if j["infno"] == "2102"}
        live = [s for s in theirs if s["msgid"] in msgids and s["state"] in ("settled", "cancelled")]
        if state in ("settled", "refunded"):
            want = "settled" if state == "settled" else "cancelled"
            if len(live) > 1:
                audit.bad(f"{sid}: {len(live)} live insurer settlements", duplicated=True)
            if not live:
                audit.bad(f"{sid}: {state} here, nothing live at the insurer", lost=True)
                continue
            s = live[0]
            if s["setl_id"] != sale["setl_id"] or s["state"] != want:
                audit.bad(f"{sid}: {state} {sale['setl_id']} here, insurer {s['state']} {s['setl_id']}", lost=True)
            for k in MONEY:
                if Decimal(s[k]) != Decimal(sale["split"][k]):
                    audit.bad(f"{sid}: {k} {sale['split'][k]} here, {s[k]} at the insurer")
            if sale["setl_id"] in claimed:
                audit.bad(f"{sid} and {claimed[sale['setl_id']]} share {sale['setl_id']}", duplicated=True)
            claimed[sale["setl_id"]] = sid
            _audit_uploads(audit, sale, books["uploads"])
        elif state in ("draft", "presettled", "reversed", "cancelled"):
            for s in live:
                audit.bad(f"{sid}: {state} here, insurer {s['state']} {s['setl_id']}", lost=True)
        else:
            audit.bad(f"{sid}: left in state {state}")
    for s in theirs:
        if s["state"] in ("settled", "cancelled") and s["setl_id"] not in claimed:
            audit.bad(f"insurer {s['state']} {s['setl_id']} (msgid {s['msgid']}) has no sale here", lost=True)
    for c in counters if reconcile else []:
        r = c.http.post("/v1/reconciliation", {"date": date.today().isoformat()})
        if r.status_code != 200:
            audit.bad(f"reconciliation answered {r.status_code}: {r.text[:300]}")
        elif not r.json()["ok"] or r.json()["differences"]:
            audit.bad(f"reconciliation differences: {r.json()['differences']}")
    return audit


def _audit_uploads(audit: BooksAudit, sale: dict[str, Any], uploads: list[dict[str, Any]]) -> None:
    codes = sorted(c for line in sale["lines"] for c in line["trace_codes"])
    if sale["state"] == "refunded":   # released codes are no longer listed on the sale; the 3505 still had them
        codes = sorted({c for u in uploads if u["setl_id"] == sale["setl_id"] and u["infno"] == "3505"
                        for c in u["codes"]}) or codes
        reported = [u for u in uploads if u["setl_id"] == sale["setl_id"] and u["infno"] in ("3505", "3506")]
        if not reported:
            return    # refunded before its report left: neither the sale nor the return is reported (nets out)
    for infno in ("3505",) + (("3506",) if sale["state"] == "refunded" else ()):
        sent = [u for u in uploads if u["setl_id"] == sale["setl_id"] and u["infno"] == infno]
        got = sorted(c for u in sent for c in u["codes"])
        if len(got) > len(set(got)):
            audit.bad(f"{sale['id']}: {infno} uploaded codes twice: {got}", duplicated=True)
        elif not got or (infno == "3505" and got != codes):
            audit.bad(f"{sale['id']}: {infno} uploads {got}, sale has {codes}")


