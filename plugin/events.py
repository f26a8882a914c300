"""In-process publish/subscribe for `GET /v1/events` (server-sent events): scans, device states, sale states.

Each subscriber gets a bounded queue; a slow browser tab loses old events rather than growing memory.
"""
from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any
from collections.abc import Callable, Iterator


class EventBus:
    def __init__(self, max_queue: int = 256):
        self._subscribers: set[queue.Queue] = set()
        self._lock = threading.Lock()
        self._max = max_queue

    def publish(self, event: str, data: dict[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait((event, data))
            except queue.Full:
                try:
                    q.get_nowait()
                    q.put_nowait((event, data))
                except (queue.Empty, queue.Full):
                    pass

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(self._max)
        with self._lock:
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers.discard(q)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def stream(self, heartbeat_s: float = 15.0, stop: threading.Event | None = None, *, max_s: float | None = None,
               pending: Callable[[], int] | None = None, slow_bytes: int = 256 * 1024,
               gone: Callable[[], bool] | None = None, flush: Callable[[], None] | None = None,
               clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
        """SSE text frames; a comment line every `heartbeat_s` keeps proxies and the browser connected.

        The stream ends (and frees its thread, plugin/httpserver.py) after ``max_s`` — the ``retry`` field tells
        EventSource to come back in 3 s — when the client went away (``gone``, checked every second), or when it
        has stopped reading: more than ``slow_bytes`` written and not yet sent (``pending``). ``flush`` wakes the
        server to send a frame at once."""
        q = self.subscribe()
        ends = None if max_s is None else clock() + max_s
        slice_s = min(heartbeat_s, 1.0) if gone is not None else heartbeat_s
        try:
            yield "retry: 3000\n: connected\n\n"
            quiet_since = clock()
            while (stop is None or not stop.is_set()) and (ends is None or clock() < ends):
                if flush is not None:
                    flush()
                if (pending is not None and pending() > slow_bytes) or (gone is not None and gone()):
                    return
                wait = slice_s if ends is None else max(0.05, min(slice_s, ends - clock()))
                try:
                    event, data = q.get(timeout=wait)
                except queue.Empty:
                    if clock() - quiet_since >= heartbeat_s:
                        quiet_since = clock()
                        yield ": heartbeat\n\n"
                    continue
                quiet_since = clock()
                yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
        finally:
            self.unsubscribe(q)
