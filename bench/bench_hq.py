"""Chain headquarters under a fleet's heartbeats: 10,000 stores every 60 s against one `rxlane hq serve` process on
PostgreSQL (a throwaway cluster from Debian's packages, fsync on), on this machine's 2 cores.

Figures, each beside a baseline measured in the same run:
- sustained: an open-loop load (each store beats on its own schedule, phases spread over the interval, whether or
  not HQ keeps up) of real heartbeat bodies through real HTTP; latency is counted from when the heartbeat was *due*,
  so a client or server falling behind shows in the p99 instead of hiding (coordinated omission). Baseline: the
  same history rows inserted by bare psycopg, one INSERT and COMMIT at a time — what one heartbeat's durable write
  costs with no HTTP, JSON, authentication or ordering; target p99 < 100 ms and the offered rate held.
- capacity: the most heartbeats/s one HQ process takes from 16 clients sending back to back (headroom).
- dashboard: `GET /v1/hq/stores` for every store (HTTP, JSON) and the board query alone, against a bare
  ``SELECT *`` of the same rows.
- CPU: seconds of CPU the HQ process and the PostgreSQL backends used during the sustained load.

`quick` (the test suite's guard): 200 stores once over 4 s, SQLite when PostgreSQL is not installed.
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._rig import ms, percentile

REPO = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 100.0


def _cluster() -> tuple[Any, str]:
    """(cluster or None, database URL): PostgreSQL when it can be started here, else SQLite (quick runs only)."""
    from tests.pgcluster import PgCluster, unavailable
    if unavailable():
        return None, ""
    cluster = PgCluster(durable=True).start()
    return cluster, cluster.create_database("rxlane_hq_bench")


def _enroll(url: str, stores: int) -> list[str]:
    """Enrol N stores in one transaction (what `rxlane hq enroll` does one at a time) → their tokens."""
    import secrets

    import sqlalchemy as sa

    from plugin.hq.db import open_database
    from plugin.hq.enrolment import token_hash
    from plugin.hq.schema import stores as table
    db = open_database(url)
    tokens = [f"rxhq_{secrets.token_urlsafe(32)}" for _ in range(stores)]
    regions = ["jiangxi", "chongqing", "jilin", "shanxi"]
    with db.begin() as conn:
        conn.execute(sa.insert(table), [{"store_id": f"st-{i:05d}", "token_hash": token_hash(t),
                                         "enrolled_at": time.time(), "region": regions[i % 4]}
                                        for i, t in enumerate(tokens)])
    db.close()
    return tokens


def _body(i: int) -> dict[str, Any]:
    """Store i's health, as plugin/api/health.py writes it; one store in twenty has something wrong."""
    trouble = i % 20 == 0
    return {
        "status": "degraded" if trouble else "ok", "problems": ["in_doubt_sales"] if trouble else [],
        "version": "0.1.0", "store": {"fixmedins_code": f"P{i:011d}", "fixmedins_name": f"示例大药房（{i}号店）",
                                      "region": ["jiangxi", "chongqing", "jilin", "shanxi"][i % 4]},
        "ledger": {"ok": True, "schema_version": 9},
        "upstream": {"url": "https://gw.example.cn/fsi/api", "embedded_sandbox": False, "reachable": True,
                     "signed_in": True, "signed_in_at": "2026-11-29T08:00:01+08:00", "last_error": None,
                     "last_ok_at": "2026-11-29T10:59:58+08:00", "latency_ms": 41.7},
        "outbox": {"pending": 1 if trouble else 0, "parked": 0, "oldest_age_s": 12.0 if trouble else 0},
        "in_doubt": 1 if trouble else 0, "in_doubt_ids": ["S20261129-0042"] if trouble else [],
        "devices": [{"name": "scanner-1", "kind": "scanner", "state": "connected", "error": None},
                    {"name": "printer-1", "kind": "printer", "state": "connected", "error": None}],
        "catalog_synced_at": "2026-11-29T08:00:03+08:00", "store_id": f"st-{i:05d}",
        "dual_channel_list": {"version": None, "rows": None, "source": None, "publication_date": None, "error": None},
    }


def _start_hq(url: str, workdir: Path, workers: int = 8) -> tuple[subprocess.Popen, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RXLANE_")}
    env["PYTHONPATH"] = str(REPO)
    log = open(workdir / "hq.log", "w")   # noqa: SIM115 — the process writes to it until it is stopped
    proc = subprocess.Popen([sys.executable, "-m", "plugin.cli", "hq", "serve", "--port", "0", "--workers",
                             str(workers), "--database-url", url, "--data-dir", str(workdir)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None            # started with stdout=PIPE
    line = proc.stdout.readline().strip()
    if not line.startswith("hq listening on http://"):
        proc.kill()
        raise RuntimeError(f"hq serve did not start: {line!r} {(workdir / 'hq.log').read_text()[-2000:]}")
    return proc, int(line.rsplit(":", 1)[1])


def _server_ms(log: Path) -> list[float]:
    """Each heartbeat's handling time inside HQ (its request log's ``ms``: Flask, JSON, the database; no queueing
    in waitress, no network) — to tell HQ's own tail from the machine's."""
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"/v1/hq/heartbeats"' in line and '"status": 200' in line:
            try:
                out.append(float(json.loads(line)["ms"]))
            except (ValueError, KeyError):
                continue
    return out


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s(parent: int) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Load:
    """Open-loop heartbeats: a dispatcher releases each (store, seq) at its due time; workers send them on kept-alive
    connections and record (due, sent, answered, status)."""

    def __init__(self, port: int, tokens: list[str], workers: int = 48):
        self.port = port
        self.tokens = tokens
        self.templates = [json.dumps(_body(i), ensure_ascii=False)[:-1] for i in range(len(tokens))]
        self.jobs: queue.Queue = queue.Queue()
        self.results: list[tuple[float, float, float, int]] = []
        self._lock = threading.Lock()
        self.workers = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def _send(self, conn: http.client.HTTPConnection, i: int, seq: int) -> int:
        body = (self.templates[i] + f',"seq":{seq}}}').encode("utf-8")
        conn.request("POST", "/v1/hq/heartbeats", body, {"Content-Type": "application/json",
                                                         "Authorization": "Bearer " + self.tokens[i]})
        resp = conn.getresponse()
        resp.read()
        return resp.status

    def _work(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while True:
            job = self.jobs.get()
            if job is None:
                return
            due, i, seq = job
            sent = time.perf_counter()
            try:
                status = self._send(conn, i, seq)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                status = 0
            done = time.perf_counter()
            with self._lock:
                self.results.append((due, sent, done, status))

    def run(self, interval_s: float, cycles: int) -> float:
        """Every store beats ``cycles`` times, ``interval_s`` apart; returns the wall seconds of the schedule."""
        for w in self.workers:
            w.start()
        n = len(self.tokens)
        start = time.perf_counter() + 0.5
        for k in range(cycles):
            for i in range(n):
                due = start + k * interval_s + i * interval_s / n
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                self.jobs.put((due, i, k + 1))
        for _ in self.workers:
            self.jobs.put(None)
        for w in self.workers:
            w.join()
        return time.perf_counter() - start

    def capacity(self, seconds: float, clients: int, first_seq: int) -> float:
        """Closed loop: ``clients`` threads send back to back for ``seconds``; heartbeats/s answered 200."""
        stop = time.perf_counter() + seconds
        counts = [0] * clients
        n = len(self.tokens)

        def client(c: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            k = 0
            while time.perf_counter() < stop:
                i = (c + k * clients) % n
                seq = first_seq + (c + k * clients) // n
                k += 1
                try:
                    if self._send(conn, i, seq) == 200:
                        counts[c] += 1
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / (time.perf_counter() - started)


def _bare_inserts(url: str, rows: int) -> dict[str, Any]:
    """The same history rows, inserted and committed one at a time with bare psycopg (or sqlite3)."""
    from plugin.hq.db import normalise_url
    samples = []
    if url.startswith("postgresql"):
        import psycopg
        conninfo = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn:
            conn.execute("CREATE TABLE bare_heartbeats (LIKE hq_heartbeats INCLUDING ALL)")
            conn.commit()
            for n in range(rows):
                started = time.perf_counter()
                conn.execute("INSERT INTO bare_heartbeats (store_id, seq, received_at, sent_at, body_sha256, health, "
                             "problems, version, outbox_pending, in_doubt, list_version) "
                             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                             (f"st-{n % 10000:05d}", n, time.time(), time.time(), "0" * 64, "ok", "", "0.1.0", 0, 0,
                              None))
                conn.commit()
                samples.append(time.perf_counter() - started)
    else:
        import sqlite3
        path = url.removeprefix("sqlite:///")
        lite = sqlite3.connect(path, isolation_level=None)
        lite.execute("PRAGMA journal_mode=WAL")
        lite.execute("CREATE TABLE bare_heartbeats AS SELECT * FROM hq_heartbeats WHERE 0")
        for n in range(rows):
            started = time.perf_counter()
            lite.execute("BEGIN IMMEDIATE")
            lite.execute("INSERT INTO bare_heartbeats (store_id, seq, received_at, body_sha256) VALUES (?,?,?,?)",
                         (f"st-{n:05d}", n, time.time(), "0" * 64))
            lite.execute("COMMIT")
            samples.append(time.perf_counter() - started)
        lite.close()
    return {"rows": rows, "per_s": round(rows / sum(samples), 1), "p50_ms": ms(percentile(samples, 50)),
            "p99_ms": ms(percentile(samples, 99))}


def _dashboard(url: str, port: int, repeats: int) -> dict[str, Any]:
    """All stores: over HTTP as the page reads them, the board query in-process, and a bare SELECT of the rows."""
    import sqlalchemy as sa

    from plugin.hq import board
    from plugin.hq.db import open_database
    http_s, board_s, bare_s = [], [], []
    size = 0
    conn_http = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(repeats):
        started = time.perf_counter()
        conn_http.request("GET", "/v1/hq/stores")
        resp = conn_http.getresponse()
        data = resp.read()
        http_s.append(time.perf_counter() - started)
        size = len(data)
    stores = len(json.loads(data)["stores"])
    db = open_database(url, migrate_now=False)
    with db.connect() as conn:
        for _ in range(repeats):
            started = time.perf_counter()
            board.board(conn, time.time(), 900, None)
            board_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            conn.execute(sa.text("SELECT * FROM hq_stores")).all()
            bare_s.append(time.perf_counter() - started)
    db.close()
    return {"stores": stores, "answer_bytes": size, "http_p50_ms": ms(percentile(http_s, 50)),
            "http_p99_ms": ms(percentile(http_s, 99)), "board_query_p50_ms": ms(percentile(board_s, 50)),
            "bare_select_p50_ms": ms(percentile(bare_s, 50)),
            "board_query_ratio": round(percentile(board_s, 50) / percentile(bare_s, 50), 2),
            "http_ratio": round(percentile(http_s, 50) / percentile(bare_s, 50), 2)}


def run(quick: bool = False) -> dict[str, Any]:
    stores, interval_s, cycles = (200, 4.0, 1) if quick else (10_000, 60.0, 3)
    cluster, url = _cluster()
    with tempfile.TemporaryDirectory(prefix="bench-hq-") as tmp:
        workdir = Path(tmp)
        if cluster is None:
            if not quick:
                return {"skipped": "PostgreSQL is not installed here (apt-get install postgresql)"}
            url = f"sqlite:///{workdir / 'hq.sqlite3'}"
        try:
            return _measure(url, workdir, stores, interval_s, cycles, quick, cluster)
        finally:
            if cluster is not None:
                cluster.stop()


def _measure(url: str, workdir: Path, stores: int, interval_s: float, cycles: int, quick: bool,
             cluster: Any) -> dict[str, Any]:
    tokens = _enroll(url, stores)
    proc, port = _start_hq(url, workdir)
    try:
        load = Load(port, tokens)
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0]) if cluster else None
        cpu_hq, cpu_pg = _cpu_s(proc.pid), _children_cpu_s(postmaster) if postmaster else 0.0
        wall = load.run(interval_s, cycles)
        cpu_hq, cpu_pg = _cpu_s(proc.pid) - cpu_hq, (_children_cpu_s(postmaster) - cpu_pg) if postmaster else 0.0
        ok = [(due, sent, done) for due, sent, done, status in load.results if status == 200]
        latency = [done - due for due, _, done in ok]
        service = [done - sent for _, sent, done in ok]
        sustained: dict[str, Any] = {
            "stores": stores, "interval_s": interval_s, "heartbeats": len(load.results), "accepted": len(ok),
            "refused_or_failed": len(load.results) - len(ok), "offered_per_s": round(stores / interval_s, 1),
            "sustained_per_s": round(len(ok) / wall, 1), "wall_s": round(wall, 1),
            "p50_ms": ms(percentile(latency, 50)), "p99_ms": ms(percentile(latency, 99)),
            "max_ms": ms(max(latency)) if latency else None, "service_p99_ms": ms(percentile(service, 99)),
            "inside_hq_p99_ms": round(percentile(_server_ms(workdir / "hq.log"), 99), 2),
            "hq_cpu_share": round(cpu_hq / wall, 3), "postgres_cpu_share": round(cpu_pg / wall, 3)}
        bare = _bare_inserts(url, 300 if quick else 5000)
        sustained["p99_ratio_to_bare_insert"] = round(sustained["p99_ms"] / bare["p99_ms"], 1)
        capacity = round(load.capacity(2 if quick else 20, 16, cycles + 1), 1)
        dashboard = _dashboard(url, port, 3 if quick else 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"database": "postgresql" if url.startswith("postgresql") else "sqlite", "sustained": sustained,
            "bare_insert": bare, "capacity_per_s": capacity,
            "capacity_ratio_to_offered": round(capacity / (stores / interval_s), 1), "dashboard": dashboard,
            "target_p99_ms": TARGET_P99_MS,
            "met": sustained["p99_ms"] < TARGET_P99_MS and sustained["refused_or_failed"] == 0
            and sustained["sustained_per_s"] >= 0.97 * stores / interval_s}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
