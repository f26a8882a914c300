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


def _one(rx: Rxlane, seeder: SandboxSeeder, recorder: Recorder | None = None
         ) -> tuple[float, float, int, float, list[str], float]:
    """(flow wall s, s waiting on the sandbox, ledger commits, s in COMMIT, the synchronous messages' infnos, the
    counter's own s) of one full counter flow and its uploads. The counter's own time stops when settle answers:
    the uploads leave in the background while the next patient is served."""
    patient = seeder.patient()
    rx.upstream_s = 0.0
    rx.commits.reset()
    started = time.perf_counter()
    counter_flow(rx, patient)
    counter_own = time.perf_counter() - started - rx.upstream_s
    synchronous = [e.infno for e in recorder.sent] if recorder is not None else []
    drain(rx)
    return (time.perf_counter() - started, rx.upstream_s, rx.commits.commits, rx.commits.seconds, synchronous,
            counter_own)


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
            synchronous: list[str] = []
            for _ in range(flows):
                wall, waited, n_commits, in_commit, synchronous, at_counter = _one(rx, seeder, recorder)
                counter_own.append(at_counter)
                commit_s.append(in_commit)
                sent = recorder.take()
                bare_s, n_refused = _replay(bare, sent)
                walls.append(wall)
                waits.append(waited)
                own.append(wall - waited)
                bares.append(bare_s)
                commits.append(n_commits)
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


def run(quick: bool = False) -> dict:
    figures = measure(3 if quick else 300, profile_flows=0 if quick else 30)
    figures["latency"] = measure_latency(2 if quick else 30)
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
