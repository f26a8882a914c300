"""The counter flow, end to end: identify → prescription download → sale (3 lines, 6 codes) → presettle → settle →
outbox upload, through real HTTP to rxlane and from rxlane to the sandbox insurer on loopback.

Baseline, same run: the very messages rxlane sent in each flow, replayed with a bare `GatewayClient` against a second
sandbox seeded identically — the round trips no service can avoid. Figures:
- synchronous gateway messages per counter flow (the POS waits for them) against the minimum the interface allows:
  1101 (who), 7202 (list) and 7203 (download), 2101 (presettle, asked for by the flow) and 2102 (settle) — the
  filings (5301), designated institutions (5302) and year-to-date figures (5206) are what lets the counter decide
  a rule itself instead of leaving it to the insurer;
- rxlane's own time per flow = flow wall time − time waiting on the sandbox (the `on_latency` hook), uploads
  included; target p99 ≤ 10 ms. Beside it, the counter's own time: the same up to settle's answer (the uploads then
  leave in the background);
- flow / bare round trips of the same messages; target ≤ 1.3;
- with the sandbox answering every message after 100 ms (a provincial gateway's latency), the counter's wait for the
  synchronous steps against messages × 100 ms; target ≤ 1.05.
- the floor, same run: the POS's 5 requests to a Flask app that does nothing, behind waitress, plus the 2 durable
  commits the money rule takes per settlement — what any counter flow on this stack costs before rxlane's work;
- the same flow on a ledger holding 100,000 earlier sales (a store's third year), against the flow before them.
A sample of flows is also run with every request profiled (cProfile, in the waitress thread) to name the slow parts;
those flows are not in the timings.
"""
from __future__ import annotations

import copy
import dataclasses
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.nhsa.client import Envelope, GatewayClient, GatewayError, MsgIdGenerator

from bench._rig import (Rxlane, SandboxSeeder, counter_flow, drain, ms, percentile, start_sandbox)

TARGET_RATIO = 1.3
TARGET_OWN_P99_MS = 10.0
TARGET_LATENCY_RATIO = 1.05
LATENCY_MS = 100
#: The fewest synchronous messages a counter flow of identify → prescriptions → sale → presettle → settle can send.
MINIMUM = ("1101", "7202", "7203", "2101", "2102")


class Recorder:
    """Keeps a copy of every envelope rxlane sends, so the baseline replays exactly those messages."""

    def __init__(self, client: GatewayClient):
        self.sent: list[Envelope] = []
        self._send = client.send
        client.send = self._record  # type: ignore[method-assign]

    def _record(self, env: Envelope) -> Any:
        self.sent.append(Envelope(msgid=env.msgid, infno=env.infno, body=copy.deepcopy(env.body)))
        return self._send(env)

    def take(self) -> list[Envelope]:
        sent, self.sent = self.sent, []
        return sent


def _bare_client(rx: Rxlane, url: str) -> GatewayClient:
    settings = dataclasses.replace(rx.svc.upstream.client.settings, url=url)
    client = GatewayClient(settings, MsgIdGenerator(settings.fixmedins_code))
    client.sign_in()
    return client


def _replay(client: GatewayClient, sent: list[Envelope]) -> tuple[float, int]:
    """Wall time of sending the same messages one after another, and how many the insurer refused."""
    refused = 0
    started = time.perf_counter()
    for env in sent:
        body = dict(env.body, sign_no=client.sign_no)
        try:
            client.send(Envelope(msgid=env.msgid, infno=env.infno, body=body))
        except GatewayError:
            refused += 1
    return time.perf_counter() - started, refused


@dataclasses.dataclass
class Flow:
    """One counter flow and its uploads, in seconds. The counter's own time stops when settle answers: the uploads
    leave in the background while the next patient is served."""
    wall: float                 # the whole flow, uploads included, as the POS and the outbox see it
    waited: float               # on the insurer (overlapping waits once)
    commits: int
    in_commit: float
    synchronous: list[str]      # infnos the POS waited for
    counter_own: float          # up to settle's answer, minus the insurer's waits (the POS's client included)
    server_own: float           # the same inside rxlane's WSGI app only (no HTTP around it)


def _one(rx: Rxlane, seeder: SandboxSeeder, recorder: Recorder | None = None) -> Flow:
    patient = seeder.patient()
    rx.upstream_s = 0.0
    rx.commits.reset()
    rx.app_clock.seconds = 0.0
    started = time.perf_counter()
    counter_flow(rx, patient)
    counter_waited = rx.upstream_s
    counter_own = time.perf_counter() - started - counter_waited
    server_own = rx.app_clock.seconds - counter_waited
    synchronous = [e.infno for e in recorder.sent] if recorder is not None else []
    drain(rx)
    return Flow(time.perf_counter() - started, rx.upstream_s, rx.commits.commits, rx.commits.seconds, synchronous,
                counter_own, server_own)


def measure(flows: int, *, profile_flows: int = 0) -> dict:
    theirs, bare_sb = start_sandbox(), start_sandbox()
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-flow-") as tmp:
        rx = Rxlane(Path(tmp) / "data", theirs.url, profile=False)
        try:
            seeder = SandboxSeeder(theirs.url, bare_sb.url)
            recorder = Recorder(rx.svc.upstream.client)
            bare = _bare_client(rx, bare_sb.url)
            for _ in range(2):       # warm-up: sign-in, catalogue sync, first-import costs; replayed, not counted
                _one(rx, seeder)
                _replay(bare, [e for e in recorder.take() if e.infno not in ("9001", "1312", "1318")])
            walls, own, waits, bares, commits, commit_s, refused, messages = [], [], [], [], [], [], 0, 0
            counter_own: list[float] = []
            server_own: list[float] = []
            synchronous: list[str] = []
            for _ in range(flows):
                flow = _one(rx, seeder, recorder)
                synchronous = flow.synchronous
                counter_own.append(flow.counter_own)
                server_own.append(flow.server_own)
                commit_s.append(flow.in_commit)
                sent = recorder.take()
                bare_s, n_refused = _replay(bare, sent)
                walls.append(flow.wall)
                waits.append(flow.waited)
                own.append(flow.wall - flow.waited)
                bares.append(bare_s)
                commits.append(flow.commits)
                refused += n_refused
                messages = len(sent)
            hot = _profile(rx, seeder, profile_flows) if profile_flows else []
        finally:
            rx.close()
            theirs.shutdown()
            bare_sb.shutdown()
    ratios = [w / b for w, b in zip(walls, bares, strict=True)]
    own_p99 = percentile(own, 99)
    ratio = sum(walls) / sum(bares)
    return {
        "flows": flows,
        "messages_per_flow": messages,
        "synchronous_messages": synchronous,
        "synchronous_messages_per_flow": len(synchronous),
        "minimum_synchronous_messages": list(MINIMUM),
        "synchronous_to_minimum": round(len(synchronous) / len(MINIMUM), 2),
        "ledger_commits_per_flow": round(sum(commits) / len(commits), 2),
        "own_ms_p50": ms(percentile(own, 50)),
        "own_ms_p99": ms(own_p99),
        "own_ms_p99_target": TARGET_OWN_P99_MS,
        "own_in_commit_ms_p50": ms(percentile(commit_s, 50)),
        "own_in_commit_ms_p99": ms(percentile(commit_s, 99)),
        "own_p99_meets_target": own_p99 * 1000 <= TARGET_OWN_P99_MS,
        "counter_own_ms_p50": ms(percentile(counter_own, 50)),
        "counter_own_ms_p99": ms(percentile(counter_own, 99)),
        "counter_server_own_ms_p50": ms(percentile(server_own, 50)),
        "counter_server_own_ms_p99": ms(percentile(server_own, 99)),
        "flow_ms_p50": ms(percentile(walls, 50)),
        "flow_ms_p99": ms(percentile(walls, 99)),
        "upstream_wait_ms_p50": ms(percentile(waits, 50)),
        "baseline_bare_round_trips_ms_p50": ms(percentile(bares, 50)),
        "baseline_bare_round_trips_ms_p99": ms(percentile(bares, 99)),
        # 7206 carries the first sandbox's setl_id, which the second never issued: it answers a refusal, which is
        # the same round trip (parse, look up, answer) — counted, not retried.
        "baseline_replay_refusals": refused,
        "flow_to_bare_ratio": round(ratio, 3),
        "flow_to_bare_ratio_p50": round(percentile(ratios, 50), 3),
        "flow_to_bare_ratio_target": TARGET_RATIO,
        "ratio_meets_target": ratio <= TARGET_RATIO,
        "hot_spots": hot,
    }


def _profile(rx: Rxlane, seeder: SandboxSeeder, flows: int) -> list[dict]:
    """Profile `flows` more flows: every request in its waitress thread, the drain in this one."""
    import cProfile

    from bench._rig import RequestProfiler
    profiler = RequestProfiler(rx.server.application)
    rx.server.application = profiler
    for _ in range(flows):
        patient = seeder.patient()
        counter_flow(rx, patient)
        p = cProfile.Profile()
        p.enable()
        drain(rx)
        p.disable()
        profiler.add(p)
    return [r for r in profiler.top(60, sort="own") if not any(w in r["function"] for w in _WAITING)][:12]


# Functions whose own time is waiting for the sandbox's answer, not rxlane working.
# The recorder's deepcopy is the bench's own cost (inside the sandbox-wait window, so in neither figure's own time).
_WAITING = ("recv_into", "sendall", "socket.connect", "'connect'", "select", "acquire", "wait", "deepcopy",
            "bench_flow.py")


def measure_floor(flows: int, answer_bytes: int = 10_500) -> dict:
    """What the counter flow costs with no work at all on the stack DESIGN names: the POS's 5 requests answered by a
    Flask app behind waitress (the rig's thread count, an answer the size of a sale view) and the 2 durable commits
    the money rule requires per settlement (journal before send, the answer), on a WAL/FULL SQLite file in a
    temporary directory beside the rig's ledgers (the same filesystem). rxlane's own time, as this bench counts it
    (the POS's client included), can only be above this. Also timed: the 5 durable journal commits of the uploads'
    messages (3505 × 3, 7204, 7206), which the whole flow's own time carries beside."""
    import itertools

    import flask
    import waitress

    from bench._rig import durable_journal, pos_session, serve_in_thread
    app = flask.Flask("floor")
    padding = "x" * answer_bytes

    @app.post("/step")
    def step() -> dict:
        return {"ok": True, "padding": padding}

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident="rxlane-floor")
    serve_in_thread(server, "rxlane-floor")
    http, url = pos_session(), f"http://127.0.0.1:{server.effective_port}/step"
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-floor-") as tmp:
        conn, commit = durable_journal(Path(tmp) / "floor.sqlite3")
        msgids = itertools.count()

        def durable_commit() -> None:
            commit(f"m{next(msgids)}", "j" * 2000)

        def one() -> float:
            started = time.perf_counter()
            for _ in range(5):
                http.post(url, json={"patient_ref": "P" * 25, "lines": [{"qty": "2"}] * 3}, timeout=30).json()
            durable_commit()
            durable_commit()
            return time.perf_counter() - started

        def uploads() -> float:
            started = time.perf_counter()
            for _ in range(5):
                durable_commit()
            return time.perf_counter() - started

        for _ in range(20):
            one()
        walls = [one() for _ in range(flows)]
        upload_commits = [uploads() for _ in range(flows)]
        conn.close()
    http.close()
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    server.close()
    return {"flows": flows, "floor_ms_p50": ms(percentile(walls, 50)), "floor_ms_p99": ms(percentile(walls, 99)),
            "uploads_5_durable_commits_ms_p50": ms(percentile(upload_commits, 50)),
            "what": "5 POS requests (Flask, waitress, requests) + 2 durable SQLite commits, nothing else"}


def measure_latency(flows: int, delay_ms: int = LATENCY_MS) -> dict:
    """Every message answered after ``delay_ms`` (the sandbox's ``slow`` fault on each transaction): the counter's
    wait for the synchronous steps against (synchronous messages × delay)."""
    sb = start_sandbox()
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-latency-") as tmp:
        rx = Rxlane(Path(tmp) / "data", sb.url)
        try:
            seeder = SandboxSeeder(sb.url)
            recorder = Recorder(rx.svc.upstream.client)
            _one(rx, seeder, recorder)                # warm-up: sign-in, catalogue sync
            recorder.take()
            for infno in ("1101", "5301", "5302", "5206", "7202", "7203", "2101", "2102", "1201"):
                r = seeder.session.post(sb.url + "/sandbox/faults", json={"infno": infno, "mode": "slow",
                                                                          "times": 1_000_000, "delay_ms": delay_ms})
                if r.status_code >= 300:
                    raise RuntimeError(f"arming the latency: {r.status_code} {r.text[:200]}")
            waits, ratios, counts = [], [], []
            for _ in range(flows):
                started = time.perf_counter()
                counter_flow(rx, seeder.patient())
                wait = time.perf_counter() - started
                n = len(recorder.take())
                waits.append(wait)
                counts.append(n)
                ratios.append(wait / (n * delay_ms / 1000))
                drain(rx)
                recorder.take()
        finally:
            rx.close()
            sb.shutdown()
    ratio = sum(waits) / sum(n * delay_ms / 1000 for n in counts)
    return {"latency_ms": delay_ms, "flows": flows, "synchronous_messages_per_flow": counts[-1],
            "counter_wait_ms_p50": ms(percentile(waits, 50)), "counter_wait_ms_p99": ms(percentile(waits, 99)),
            "messages_x_latency_ms": counts[-1] * delay_ms, "wait_to_messages_x_latency": round(ratio, 3),
            "wait_ratio_p99": round(percentile(ratios, 99), 3), "target": TARGET_LATENCY_RATIO,
            "meets_target": ratio <= TARGET_LATENCY_RATIO}


def measure_history(flows: int, history: int) -> dict:
    """The same flow on a ledger that already holds ``history`` settled sales (cloned through the ledger, 100 a day
    back in time, as bench_footprint does): a store's third year. Baseline, same run: the flow before the history
    was added. Before migration 12 the counter's own time grew with every sale ever made."""
    from bench.bench_footprint import clone_sales
    sb = start_sandbox()
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-history-") as tmp:
        rx = Rxlane(Path(tmp) / "data", sb.url)
        try:
            seeder = SandboxSeeder(sb.url)
            for _ in range(3):
                template = counter_flow(rx, seeder.patient())
                drain(rx)

            def sample() -> tuple[list[float], list[float]]:
                counter, own = [], []
                for _ in range(flows):
                    flow = _one(rx, seeder)
                    counter.append(flow.counter_own)
                    own.append(flow.wall - flow.waited)
                return counter, own

            before_counter, before_own = sample()
            started = time.perf_counter()
            clone_sales(Path(rx.svc.ledger.path), template["id"], history)
            clone_s = time.perf_counter() - started
            for _ in range(3):
                _one(rx, seeder)
            after_counter, after_own = sample()
        finally:
            rx.close()
            sb.shutdown()
    return {"history_sales": history, "flows": flows, "clone_s": round(clone_s, 1),
            "counter_own_ms_p50_new_ledger": ms(percentile(before_counter, 50)),
            "counter_own_ms_p50": ms(percentile(after_counter, 50)),
            "counter_own_ms_p99": ms(percentile(after_counter, 99)),
            "own_ms_p50_new_ledger": ms(percentile(before_own, 50)),
            "own_ms_p50": ms(percentile(after_own, 50)), "own_ms_p99": ms(percentile(after_own, 99)),
            "counter_own_ratio_to_new_ledger": round(percentile(after_counter, 50) / percentile(before_counter, 50),
                                                     2)}


def run(quick: bool = False) -> dict:
    figures = measure(3 if quick else 300, profile_flows=0 if quick else 30)
    figures["latency"] = measure_latency(2 if quick else 30)
    figures["history"] = measure_history(3 if quick else 100, 300 if quick else 100_000)
    figures["floor"] = floor = measure_floor(20 if quick else 1000)
    figures["counter_own_p99_over_floor_p99"] = round(figures["counter_own_ms_p99"] / floor["floor_ms_p99"], 2)
    # the ratio target in own time: flow ≤ 1.3 × bare ⇔ own ≤ 0.3 × bare; the floor of the whole flow's own time
    # is the counter's floor plus the uploads' journal commits
    whole_floor = floor["floor_ms_p50"] + floor["uploads_5_durable_commits_ms_p50"]
    figures["ratio_floor_p50"] = round((figures["baseline_bare_round_trips_ms_p50"] + whole_floor)
                                       / figures["baseline_bare_round_trips_ms_p50"], 3)
    return figures


def print_profile(flows: int = 30, n: int = 40) -> None:
    """`python -m bench.bench_flow --profile`: the cumulative and own-time tables behind README's hot spots."""
    theirs = start_sandbox()
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-flow-") as tmp:
        rx = Rxlane(Path(tmp) / "data", theirs.url)
        seeder = SandboxSeeder(theirs.url)
        _one(rx, seeder)
        from bench._rig import RequestProfiler
        profiler = RequestProfiler(rx.server.application)
        rx.server.application = profiler
        for _ in range(flows):
            counter_flow(rx, seeder.patient())
            drain(rx)
        stats: pstats.Stats = profiler.stats
        stats.sort_stats("cumulative").print_stats(n)
        stats.sort_stats("tottime").print_stats(n)
        rx.close()
    theirs.shutdown()


if __name__ == "__main__":
    import json
    import sys
    if "--profile" in sys.argv:
        print_profile()
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2, ensure_ascii=False))
