"""Eight POS terminals settling at once against one `rxlane serve --workers 8` (waitress, embedded sandbox).

Each terminal (a thread with its own HTTP connection) runs whole counter flows — identify, prescriptions, sale with
3 lines and 6 codes, presettle, settle — back to back; the service's own recovery loop drains the outbox beside
them, as in a store. Baseline, same run, same process: one terminal alone. Figures: settlements/s with 8 and with 1,
the scaling between them, p99 of the settle call and of the whole flow, and the count of `database is locked` (and
any other 5xx) seen in the answers or in the server's stderr — which must be zero.
"""
from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._rig import (RemoteRxlane, SandboxSeeder, Serve, counter_flow, ms, percentile, pos_session)

TERMINALS = 8


def _terminals(serve: Serve, seeder: SandboxSeeder, n_terminals: int, flows_each: int) -> dict:
    patients = [[seeder.patient() for _ in range(flows_each)] for _ in range(n_terminals)]
    settle_s: list[float] = []
    flow_s: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_terminals + 1)

    def terminal(mine) -> None:
        rx = RemoteRxlane(serve.url)
        start.wait()
        for patient in mine:
            steps: dict[str, float] = {}
            started = time.perf_counter()
            try:
                counter_flow(rx, patient, steps=steps)
            except Exception as exc:   # a failed flow is a finding, reported with its text
                with lock:
                    errors.append(str(exc)[:300])
                continue
            with lock:
                flow_s.append(time.perf_counter() - started)
                settle_s.append(steps["settle"])

    threads = [threading.Thread(target=terminal, args=(p,), daemon=True) for p in patients]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return {"settlements": len(settle_s), "wall_s": wall, "settle": settle_s, "flow": flow_s, "errors": errors}


def run(quick: bool = False) -> dict:
    flows_each = 1 if quick else 25
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-concurrency-") as tmp:
        serve = Serve(Path(tmp) / "data", workers=TERMINALS)
        stderr = ""
        try:
            http = pos_session()
            serve.wait_healthy(http)
            seeder = SandboxSeeder(serve.sandbox_url)
            warm = RemoteRxlane(serve.url)
            counter_flow(warm, seeder.patient())          # sign-in and catalogue sync happen here, not below
            one = _terminals(serve, seeder, 1, 2 if quick else 60)
            many = _terminals(serve, seeder, TERMINALS, flows_each)
            depth = http.get(serve.url + "/v1/health", timeout=30).json()["outbox"]
        finally:
            stderr = serve.stop()
    locked = sum("database is locked" in e for e in one["errors"] + many["errors"]) + stderr.count("database is locked")
    tp_one = one["settlements"] / one["wall_s"]
    tp_many = many["settlements"] / many["wall_s"]
    return {
        "terminals": TERMINALS,
        "server_workers": TERMINALS,
        "settlements": many["settlements"],
        "settled_flows_per_s": round(tp_many, 1),
        "baseline_one_terminal_settled_flows_per_s": round(tp_one, 1),
        "scaling_vs_one_terminal": round(tp_many / tp_one, 2),
        "settle_ms_p50": ms(percentile(many["settle"], 50)),
        "settle_ms_p99": ms(percentile(many["settle"], 99)),
        "baseline_one_terminal_settle_ms_p99": ms(percentile(one["settle"], 99)),
        "flow_ms_p50": ms(percentile(many["flow"], 50)),
        "flow_ms_p99": ms(percentile(many["flow"], 99)),
        "baseline_one_terminal_flow_ms_p99": ms(percentile(one["flow"], 99)),
        "failed_flows": len(one["errors"]) + len(many["errors"]),
        "failed_flow_samples": (one["errors"] + many["errors"])[:3],
        "database_is_locked": locked,
        "server_stderr_tracebacks": stderr.count("Traceback"),
        "zero_locked_errors": locked == 0,
        "outbox_after": depth,
    }


if __name__ == "__main__":
    import json
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, ensure_ascii=False))
