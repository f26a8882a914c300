"""Every message the sandbox gateway received and its verdict, for ``GET /sandbox/messages`` (docs/sandbox.md):
what tests and integrators look at to see why a message was refused.

Only the envelope's identifiers are kept — ``{at, infno, msgid, path, verdict, err_msg}`` — never the body, which
holds names, ID numbers and tokens. The log is bounded (the last ``LIMIT`` messages).
"""
from __future__ import annotations

import threading
from collections import deque
from datetime import datetime
from typing import Any

LIMIT = 2000


class MessageLog:
    def __init__(self, limit: int = LIMIT):
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)

    def record(self, *, at: datetime, infno: Any, msgid: Any, path: str, accepted: bool, err_msg: str = "") -> None:
        entry = {"at": at.isoformat(timespec="milliseconds"), "infno": _short(infno), "msgid": _short(msgid),
                 "path": path, "verdict": "accepted" if accepted else "refused", "err_msg": err_msg}
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _short(value: Any) -> str:
    """An identifier as logged: text up to 40 characters (whatever a hostile sender put there)."""
    return value[:40] if isinstance(value, str) else ""
