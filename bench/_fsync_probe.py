"""Run N settlements inside one process, marking the phases with fsyncs of marker files so `strace` can count the fsyncs
of each.

`python -m bench._fsync_probe N DIR` — used by bench_durability under `strace -f -y -e trace=fsync,fdatasync`:
an fsync of the marker files DIR/mark-<phase> splits the trace into
(1) settling N prepared sales and (2) draining their uploads; everything before (imports, seeding, sale creation)
is outside the markers. Prints one JSON line with the in-process commit counts for cross-checking.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench._rig import Rxlane, SandboxSeeder, drain, prepare_sales, settle, start_sandbox


def mark(data_dir: str, phase: str) -> None:
    fd = os.open(os.path.join(data_dir, f"mark-{phase}"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(n: int, data_dir: str) -> None:
    sb = start_sandbox()
    rx = Rxlane(Path(data_dir) / "data", sb.url)
    try:
        seeder = SandboxSeeder(sb.url)
        sale_ids = prepare_sales(rx, seeder, n)
        rx.commits.reset()
        mark(data_dir, "settle")
        for sale_id in sale_ids:
            settle(rx, sale_id)
        mark(data_dir, "drain")
        settle_commits = rx.commits.commits
        rx.commits.reset()
        drain(rx)
        mark(data_dir, "end")
        print(json.dumps({"settlements": n, "settle_commits": settle_commits, "drain_commits": rx.commits.commits}))
    finally:
        rx.close()
        sb.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
