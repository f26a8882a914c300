"""Chain headquarters at scale: rendering 10,000 store configs and polling 1,000 stores' health.

Figures, each beside a baseline measured in the same run:
- render: `render_fleet` with every store validated through `load_settings` (defaults → chain → store), against
  writing the same bytes without validation; target < 10 s for 10,000 stores. The ratio is the price of the check.
- status: `poll_fleet` (bounded thread pool) over 1,000 loopback stores (one asyncio simulator, each store its own
  127.0.x.y address on one port) that answer after a simulated 50 ms of store-link latency (a counter PC behind
  a shop's broadband; on bare loopback there is nothing for concurrency to overlap), against polling a subset one
  by one and extrapolating; target < 30 s.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from plugin.fleet.inventory import read_inventory
from plugin.fleet.render import render_fleet
from plugin.fleet.simulate import SimFleet, SimStore, free_port, sample_store, write_inventory
from plugin.fleet.status import HEALTHY, Target, poll_fleet, poll_one

TARGET_RENDER_S = 10.0
TARGET_POLL_S = 30.0
LINK_LATENCY_S = 0.05


def _render(tmp: Path, stores: int) -> dict[str, Any]:
    csv_path = write_inventory(tmp / "inventory.csv", [sample_store(i) for i in range(stores)])
    chain = tmp / "chain.toml"
    chain.write_text('[nhsa]\nurl = "https://gw.example.cn"\ntimeout_s = 20\n', encoding="utf-8")
    started = time.perf_counter()
    render_fleet(csv_path, chain, tmp / "validated")
    validated = time.perf_counter() - started
    inv = read_inventory(csv_path)                      # baseline: the same bytes, no validation, no CSV checks
    started = time.perf_counter()
    render_fleet(inv, chain, tmp / "unvalidated", validate=False)
    unvalidated = time.perf_counter() - started
    same = all((tmp / "validated" / p.name).read_bytes() == p.read_bytes()
               for p in list((tmp / "unvalidated").iterdir())[:50])
    return {"stores": stores, "render_s": round(validated, 3), "write_only_s": round(unvalidated, 3),
            "validation_ratio": round(validated / unvalidated, 2), "ms_per_store": round(validated / stores * 1000, 3),
            "same_bytes": same, "target_s": TARGET_RENDER_S * stores / 10_000,
            "met": validated < TARGET_RENDER_S * stores / 10_000}


def _poll(stores: int, sequential_sample: int, concurrency: int) -> dict[str, Any]:
    port = free_port()
    sims = [SimStore(f"127.0.{i // 250 + 1}.{i % 250 + 1}", port, f"slow:{LINK_LATENCY_S}") for i in range(stores)]
    targets = [Target(f"st-{i:05d}", s.host, port) for i, s in enumerate(sims)]
    with SimFleet(sims):
        started = time.perf_counter()
        results = poll_fleet(targets, concurrency=concurrency, timeout=10)
        pooled = time.perf_counter() - started
        started = time.perf_counter()
        sequential = [poll_one(t, 10) for t in targets[:sequential_sample]]
        per_store = (time.perf_counter() - started) / sequential_sample
    healthy = sum(r.state == HEALTHY for r in results) + sum(r.state == HEALTHY for r in sequential)
    return {"stores": stores, "concurrency": concurrency, "link_latency_s": LINK_LATENCY_S, "poll_s": round(pooled, 3),
            "sequential_extrapolated_s": round(per_store * stores, 3),
            "speedup": round(per_store * stores / pooled, 2), "healthy": healthy,
            "answered_all": healthy == stores + sequential_sample, "target_s": TARGET_POLL_S * stores / 1000,
            "met": pooled < TARGET_POLL_S * stores / 1000}


def run(quick: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        render = _render(Path(tmp), 200 if quick else 10_000)
    poll = _poll(20 if quick else 1000, 5 if quick else 100, 8 if quick else 64)
    return {"render": render, "status": poll}


if __name__ == "__main__":
    import json
    print(json.dumps(run(), indent=2))
