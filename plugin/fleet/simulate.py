"""Loopback stores that answer ``GET /v1/health`` like rxlane does: for fleet tests, the benchmark and demos.

One asyncio loop in one thread serves every simulated store, so a thousand stores cost a thousand listening sockets
and no threads. Each store has a behaviour:

* ``ok`` — ``status: ok``;
* ``degraded:<problem>[,<problem>…]`` — ``status: degraded`` with those problems and matching fields
  (``in_doubt_sales`` sets ``in_doubt``, ``outbox_parked`` parks an upload, ``device_error`` breaks a device,
  ``upstream_unreachable`` sets ``upstream.reachable = false``);
* ``slow:<seconds>`` — answers ``ok`` after a delay (beyond the poller's timeout, it is "down: timeout");
* ``garbage`` — HTTP 200 with a body that is not JSON; ``error`` — HTTP 500 with an HTML body.

Stores usually differ by loopback address (127.0.0.2, 127.0.0.3, …, all of 127.0.0.0/8 is local on Linux) and share
one port, exactly like counters that all run rxlane on 8600.
"""
from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class SimStore:
    host: str
    port: int
    behaviour: str = "ok"


def health_body(behaviour: str) -> dict:
    problems = behaviour.partition(":")[2].split(",") if behaviour.startswith("degraded") else []
    problems = [p for p in problems if p]
    return {
        "status": "degraded" if problems else "ok", "problems": problems, "version": "0.1.0",
        "store": {"fixmedins_code": "P00000000000", "fixmedins_name": "模拟药房", "region": "jiangxi"},
        "ledger": {"ok": "ledger" not in problems, "schema_version": 1},
        "upstream": {"reachable": "upstream_unreachable" not in problems, "signed_in": True},
        "outbox": {"pending": 3 if "outbox_parked" in problems else 0,
                   "parked": 1 if "outbox_parked" in problems else 0,
                   "oldest_age_s": 7200 if "outbox_parked" in problems else 0},
        "in_doubt": 2 if "in_doubt_sales" in problems else 0,
        "devices": [{"name": "scanner-1", "kind": "scanner",
                     "state": "error" if "device_error" in problems else "connected",
                     "error": "device unplugged" if "device_error" in problems else None}],
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SimFleet:
    """Start with ``SimFleet(stores).start()``; ``stop()`` closes every socket."""

    def __init__(self, stores: list[SimStore]):
        self.stores = stores
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim-fleet", daemon=True)
        self._servers: list[asyncio.base_events.Server] = []
        self.inflight = 0          # requests being answered now, and the most seen at once (bounded polling)
        self.max_inflight = 0
        self.requests = 0

    def start(self) -> SimFleet:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_all(), self.loop).result(timeout=60)
        return self

    async def _start_all(self) -> None:
        for store in self.stores:
            server = await asyncio.start_server(
                functools.partial(self._answer, behaviour=store.behaviour), store.host, store.port, backlog=512,
                reuse_address=True)
            self._servers.append(server)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, behaviour: str) -> None:
        self.inflight += 1
        self.requests += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await reader.readuntil(b"\r\n\r\n")
            kind, _, arg = behaviour.partition(":")
            status, ctype, body = "200 OK", "application/json", b""
            if kind == "slow":
                await asyncio.sleep(float(arg))
            if kind == "garbage":
                ctype, body = "text/plain", b"<<not json>>"
            elif kind == "error":
                status, ctype, body = "500 Internal Server Error", "text/html", b"<h1>500</h1>"
            else:
                body = json.dumps(health_body(behaviour), ensure_ascii=False).encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the poller gave up (timeout) or the fleet is stopping
        finally:
            self.inflight -= 1
            writer.close()

    def stop(self) -> None:
        async def close_all() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> SimFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- generated inventories -------------------------------------------------------------------------------------
SAMPLE_REGIONS = ("jiangxi", "chongqing", "jilin", "shanxi")


def sample_store(i: int, **changes: str) -> dict[str, str]:
    """Inventory row number ``i`` of a made-up chain (unique id, code and host for every i < 16,777,216)."""
    row = {"store_id": f"st-{i:05d}", "fixmedins_code": f"P{i:011d}", "fixmedins_name": f"示例大药房（{i}号店）",
           "region": SAMPLE_REGIONS[i % len(SAMPLE_REGIONS)],
           "host": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
           "devices": f"scanner-1:scanner:/dev/ttyACM0:cr;printer-1:printer:tcp://10.9.{i % 256}.5:9100"
           if i % 3 else ""}
    row.update(changes)
    return row


def write_inventory(path, rows: list[dict[str, str]]):
    import csv
    from pathlib import Path

    from plugin.fleet.inventory import COLUMNS
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
