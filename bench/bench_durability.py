"""What "journal before send" (docs/architecture.md: SQLite WAL, synchronous=FULL) costs a settlement on this disk.

Baseline, same run, same filesystem as the ledger: the raw cost of one SQLite commit (WAL, FULL) of one ~1 KB row —
one fdatasync of the -wal file. Figures:
- settlements/s of `POST /v1/sales/{id}/settle` (one terminal, prepared draft sales), beside raw commits/s;
  the ratio says how many bare commits' worth of time one settlement costs;
- commits per settlement (counted by wrapping the ledger connection) and, when `strace` is installed, the
  fdatasync/fsync calls per settlement and per outbox upload by file; budget: ≤ 2 beyond the journal's own.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._rig import Rxlane, SandboxSeeder, durable_journal, ms, percentile, prepare_sales, settle, start_sandbox

BUDGET_BEYOND_JOURNAL = 2
_SYNC = re.compile(r"^\d+\s+(fsync|fdatasync)\(\d+<([^>]*)>")


def raw_commits(directory: Path, n: int) -> dict:
    """Commits/s of single-row inserts into a WAL, synchronous=FULL database in `directory`."""
    conn, commit = durable_journal(directory / "raw.sqlite3")
    body = "x" * 1000
    times = []
    for i in range(n):
        started = time.perf_counter()
        commit(f"m{i}", body)
        times.append(time.perf_counter() - started)
    conn.close()
    return {"commits_per_s": round(n / sum(times), 1), "commit_ms_p50": ms(percentile(times, 50)),
            "commit_ms_p99": ms(percentile(times, 99))}


def settlements(directory: Path, n: int) -> dict:
    sb = start_sandbox()
    rx = Rxlane(directory / "data", sb.url)
    try:
        ids = prepare_sales(rx, SandboxSeeder(sb.url), n)
        rx.commits.reset()
        rx.upstream_s = 0.0
        times = []
        for sale_id in ids:
            started = time.perf_counter()
            settle(rx, sale_id)
            times.append(time.perf_counter() - started)
        total = sum(times)
        return {"settlements_per_s": round(n / total, 1), "settle_ms_p50": ms(percentile(times, 50)),
                "settle_ms_p99": ms(percentile(times, 99)),
                "settle_upstream_wait_ms_mean": ms(rx.upstream_s / n),
                "settle_commit_ms_mean": ms(rx.commits.seconds / n),
                "commits_per_settlement": round(rx.commits.commits / n, 2)}
    finally:
        rx.close()
        sb.shutdown()


def strace_fsyncs(n: int) -> dict:
    """fsync/fdatasync calls per settlement and per sale's uploads, from strace of bench._fsync_probe."""
    strace = shutil.which("strace")
    if not strace:
        return {"strace": "not installed (apt-get install strace); commit counts above stand in"}
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-fsync-") as tmp:
        trace = Path(tmp) / "trace.txt"
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        proc = subprocess.run([strace, "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", str(trace), sys.executable,
                               "-m", "bench._fsync_probe", str(n), tmp], capture_output=True, text=True, env=env,
                              timeout=600)
        if proc.returncode != 0:
            return {"strace": f"failed: {proc.stderr.strip()[-300:]}"}
        phase = "setup"
        counts: dict[str, Counter[str]] = {"settle": Counter(), "drain": Counter()}
        for line in trace.read_text().splitlines():
            found = _SYNC.match(line)
            if not found:
                continue
            name = Path(found.group(2)).name
            if name.startswith("mark-"):
                phase = name.removeprefix("mark-")
            elif phase in counts:
                counts[phase][name] += 1
    per = {phase: {f: round(c / n, 2) for f, c in sorted(counter.items())} for phase, counter in counts.items()}
    settle_total = sum(counts["settle"].values()) / n
    return {"fsyncs_per_settlement": round(settle_total, 2),
            # the journal row (msgid + body committed before the 2102 leaves) is one commit = one fdatasync
            "fsyncs_per_settlement_beyond_journal": round(settle_total - 1, 2),
            "fsyncs_per_settlement_by_file": per["settle"],
            "fsyncs_per_sale_uploads": round(sum(counts["drain"].values()) / n, 2),
            "fsyncs_per_sale_uploads_by_file": per["drain"]}


def run(quick: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="rxlane-bench-durability-") as tmp:
        raw = raw_commits(Path(tmp), 50 if quick else 2000)
        sett = settlements(Path(tmp), 5 if quick else 300)
    figures = {**{f"baseline_raw_{k}": v for k, v in raw.items()}, **sett}
    figures["settlement_cost_in_raw_commits"] = round(raw["commits_per_s"] / sett["settlements_per_s"], 2)
    figures["commits_beyond_journal"] = round(sett["commits_per_settlement"] - 1, 2)
    if not quick:
        figures.update(strace_fsyncs(100))
    beyond = figures.get("fsyncs_per_settlement_beyond_journal", figures["commits_beyond_journal"])
    figures["fsync_budget_beyond_journal"] = BUDGET_BEYOND_JOURNAL
    figures["fsync_budget_met"] = beyond <= BUDGET_BEYOND_JOURNAL
    figures["disk"] = disk_of(Path(tempfile.gettempdir()))
    return figures


def disk_of(path: Path) -> str:
    """`device fstype options` of the mount holding `path` (from /proc/mounts)."""
    try:
        best = ("", "")
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype, opts = line.split()[:4]
            if str(path.resolve()).startswith(mnt) and len(mnt) >= len(best[0]):
                best = (mnt, f"{dev} {fstype} ({opts.split(',')[0]}) on {mnt}")
        return best[1]
    except OSError:
        return "unknown"


if __name__ == "__main__":
    import json
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, ensure_ascii=False))
