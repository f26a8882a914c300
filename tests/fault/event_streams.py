"""Raw connections to a running rxlane's event stream (docs/reliability.md, "Connections"), opened the way a
counter page does: `GET /v1/events` on a socket of its own, kept open. Used by tests/fault/test_fault_connections.py
and bench/bench_connections.py; plain sockets, no pytest.

    address = address_of("http://127.0.0.1:8765")        # ("127.0.0.1", 8765)
    s, head = open_event_stream(address)                   # head: b"HTTP/1.1 200 OK\r\n…\r\n\r\n" (or what came)
"""
from __future__ import annotations

import socket

STREAM_REQUEST = b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"


def address_of(url: str) -> tuple[str, int]:
    """``http://host:port`` → ``(host, port)``."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def open_event_stream(address: tuple[str, int], timeout: float = 10) -> tuple[socket.socket, bytes]:
    """A socket with the event-stream request sent and the answer's head read (up to its blank line; less when the
    service closed first). The caller closes the socket."""
    s = socket.create_connection(address, timeout=timeout)
    s.sendall(STREAM_REQUEST)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head
