"""Named crash points for the fault suite (docs/architecture.md: "kill the process at every step of the flow").

`RXLANE_CRASH_AT=settle.after_send` makes the process SIGKILL itself when it reaches that point — no cleanup, no
flush, exactly like a counter PC losing power — so tests can prove that every sale ends settled once or reversed.
Unset (production), a crash point costs one set lookup.
"""
from __future__ import annotations

import os
import signal

POINTS = (
    "create.before_commit",
    "presettle.after_send",
    "settle.before_journal", "settle.after_journal", "settle.after_send", "settle.after_answer",
    "refund.after_journal", "refund.after_send", "refund.after_answer",
    "resolve.after_journal", "resolve.after_send",
    "outbox.after_journal", "outbox.after_send", "outbox.after_answer",
    "idempotency.before_finish",
)
_ARMED = frozenset(p.strip() for p in os.environ.get("RXLANE_CRASH_AT", "").split(",") if p.strip())


def crash_point(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
