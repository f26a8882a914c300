"""The store's side of the HQ protocol, kept between restarts in ``<data dir>/hq-link.json`` (mode 0600).

Not in the ledger: it is a few kilobytes rewritten every heartbeat, and losing it costs nothing that matters — a
store that lost its counter is told HQ's ``last_seq`` in the next refusal and numbers on from there.

    {"next_seq": 42, "backlog": [{heartbeat body with its seq}, …], "reports": {"2026-11": "<sha256>"}}

``backlog`` holds the heartbeats HQ has not acknowledged, oldest first, at most ``backlog_max`` (the oldest go).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from plugin.logs import get_logger

log = get_logger("rxlane.heartbeat")
STATE_FILE = "hq-link.json"


class LinkState:
    def __init__(self, data_dir: str | Path, backlog_max: int = 288):
        self.path = Path(data_dir) / STATE_FILE
        self.backlog_max = backlog_max
        self.next = 1
        self.backlog: list[dict[str, Any]] = []
        self.reports: dict[str, str] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            log.warning("hq link state unreadable; starting afresh (HQ tells the sequence to resume from)")
            return
        if not isinstance(data, dict):
            return
        if isinstance(data.get("next_seq"), int) and data["next_seq"] >= 1:
            self.next = data["next_seq"]
        self.backlog = [b for b in data.get("backlog") or [] if isinstance(b, dict) and isinstance(b.get("seq"), int)]
        self.reports = {k: v for k, v in (data.get("reports") or {}).items() if isinstance(v, str)}

    def save(self) -> None:
        """Atomically: a crash leaves the old state or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"next_seq": self.next, "backlog": self.backlog, "reports": self.reports},
                          ensure_ascii=False, separators=(",", ":"), default=str)
        fd, tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        """Number a heartbeat and keep it until HQ acknowledges it."""
        entry = {**body, "seq": self.next}
        self.next += 1
        self.backlog.append(entry)
        if len(self.backlog) > self.backlog_max:
            dropped = len(self.backlog) - self.backlog_max
            self.backlog = self.backlog[dropped:]
            log.warning("hq heartbeat backlog full; oldest dropped", dropped=dropped)
        return entry

    def delivered(self, seq: int) -> None:
        self.backlog = [b for b in self.backlog if b["seq"] != seq]

    def resume_after(self, last_seq: int) -> None:
        """HQ has heartbeats up to ``last_seq`` that this store does not know of (its state was lost or restored
        from a backup): number every waiting heartbeat again after it, keeping their order."""
        self.next = max(self.next, last_seq + 1)
        for entry in self.backlog:
            entry["seq"] = self.next
            self.next += 1

    def drop(self, seq: int) -> None:
        self.delivered(seq)
