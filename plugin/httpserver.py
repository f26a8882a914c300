"""rxlane's HTTP server: waitress, with the limits a counter PC needs (docs/reliability.md, "Connections").

- **Event streams apart.** A ``GET /v1/events`` stream lasts as long as a counter page is open; on the API's worker
  threads sixteen of them stopped the API. Here each stream gets a thread of its own from a bounded pool
  (``[server] event_streams_max``); the API's ``workers`` only ever serve requests that end. Over the cap a stream
  is refused ``EVENTS_BUSY`` at once. A stream ends after ``event_stream_max_s`` (EventSource reconnects by itself)
  or as soon as its client stops reading (``SLOW_CLIENT_BYTES`` unsent), so a slot is never held for nothing.
- **Connections.** waitress holds an idle connection without a thread; ``connection_limit`` (default 1000, far above
  waitress's 100) is how many it holds before new ones wait, ``idle_timeout_s`` closes idle keep-alive
  connections, ``request_timeout_s`` closes one whose request has not fully arrived (a slow or stalled client),
  and ``poll()`` replaces ``select()`` so more than 1,024 sockets are no failure.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any
from collections.abc import Callable

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher, WSGITask

EVENTS_PATH = "/v1/events"
#: Unsent bytes after which a stream's client is taken as not reading (a frame is ~100 bytes; a live page reads
#: every one within milliseconds).
SLOW_CLIENT_BYTES = 256 * 1024


class EventStreams:
    """The bounded pool of stream threads: one per open ``/v1/events``, at most ``cap``."""

    def __init__(self, cap: int):
        self.cap = cap
        self._slots = threading.BoundedSemaphore(cap)
        self._local = threading.local()
        self._count = 0
        self._lock = threading.Lock()

    def try_serve(self, channel: Any) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            self._count += 1
        threading.Thread(target=self._serve, args=(channel,), name="rxlane-events", daemon=True).start()
        return True

    def _serve(self, channel: Any) -> None:
        self._local.mine = True
        try:
            channel.service()
        except Exception:    # a broken stream must not take its slot with it
            pass
        finally:
            with self._lock:
                self._count -= 1
            self._slots.release()

    def mine(self) -> bool:
        """Is the calling thread one of the pool's (else a stream request landed on an API worker: over the cap)?"""
        return bool(getattr(self._local, "mine", False))

    @property
    def open(self) -> int:
        with self._lock:
            return self._count


class _Task(WSGITask):
    def get_environment(self) -> dict[str, Any]:
        environ = super().get_environment()
        channel = self.channel
        # what an event stream needs to notice a client that stopped reading, and to send a frame at once
        environ["rxlane.pending_output"] = lambda: channel.total_outbufs_len
        environ["rxlane.flush"] = channel.server.pull_trigger
        return environ


class _Channel(HTTPChannel):
    task_class = _Task
    partial_since: float | None = None

    def received(self, data: bytes) -> bool:
        result = super().received(data)
        if self.request is None:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = time.time()
        return result


class _Server(TcpWSGIServer):
    channel_class = _Channel
    streams: EventStreams | None = None
    request_timeout_s: float = 30.0

    def add_task(self, task: Any) -> None:
        requests = getattr(task, "requests", None)
        request = requests[0] if requests else None
        if (self.streams is not None and request is not None and request.command == "GET"
                and request.path == EVENTS_PATH and self.streams.try_serve(task)):
            return
        super().add_task(task)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)     # idle connections (channel_timeout)
        cutoff = now - self.request_timeout_s
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "partial_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True     # its request never finished arriving


class Served:
    """One running server (one socket, or one per address a name resolves to), with a loop that ``stop`` ends."""

    def __init__(self, servers: list[_Server], map_: dict, adj: Adjustments, dispatcher: ThreadedTaskDispatcher):
        self.servers = servers
        self.map = map_
        self.adj = adj
        self.task_dispatcher = dispatcher
        self.effective_host = servers[0].effective_host
        self.effective_port = servers[0].effective_port
        self._stop = threading.Event()

    def run(self) -> None:
        """Serve until ``stop`` (or a KeyboardInterrupt raised by a signal handler, which propagates)."""
        while not self._stop.is_set() and self.map:
            wasyncore.loop(timeout=self.adj.asyncore_loop_timeout, map=self.map, use_poll=True, count=1)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.servers[0].pull_trigger()
        except OSError:
            pass

    def close(self, timeout: float = 10) -> None:
        self.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        wasyncore.close_all(self.map)


def serve(app: Callable[..., Any], *, host: str, port: int, threads: int, connection_limit: int = 1000,
          idle_timeout_s: float = 60, request_timeout_s: float = 30, streams: EventStreams | None = None,
          ident: str = "rxlane") -> Served:
    """Bind (raises OSError when the address is taken) and return the server, not yet running."""
    adj = Adjustments(host=host, port=port, threads=threads, ident=ident, connection_limit=connection_limit,
                      channel_timeout=max(1, int(idle_timeout_s)),
                      cleanup_interval=max(1, min(10, int(idle_timeout_s))),
                      asyncore_use_poll=True, outbuf_overflow=1048576, backlog=1024,
                      # keep reading while a request runs, so a stream whose client went away notices it
                      channel_request_lookahead=1)
    _raise_open_files(connection_limit)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    map_: dict = {}
    servers = []
    try:
        for sockinfo in adj.listen:
            server = _Server(app, map_, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
            server.streams = streams
            server.request_timeout_s = request_timeout_s
            servers.append(server)
    except BaseException:
        dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(map_)
        raise
    return Served(servers, map_, adj, dispatcher)


def _raise_open_files(connections: int) -> None:
    """Each connection is a file descriptor: lift the soft limit towards the hard one if it is too low."""
    if os.name != "posix":
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            pass

