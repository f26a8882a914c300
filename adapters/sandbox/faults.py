"""Injected gateway faults (docs/sandbox.md ``POST /sandbox/faults``): the failures rxlane must survive without losing
or doubling money.

| mode | what the sandbox does | what the client must conclude |
| --- | --- | --- |
| ``error`` | answers infcode -1 with ``err_msg``, commits nothing | refused, nothing moved |
| ``timeout`` | holds the request ``delay_ms`` (default 30 s) and commits nothing | outcome unknown |
| ``slow`` | waits ``delay_ms``, then commits and answers | a late success |
| ``drop_response`` | commits, then closes the connection without an answer | outcome unknown (money moved) |
| ``corrupt`` | commits, then answers a truncated, unparseable body | outcome unknown (money moved) |
| ``sign_in_expired`` | ends the institution's sign-ins, refuses "未签到或签到已失效，请重新签到" | sign in, retry |

``infno`` is a transaction number as sent (``2102``, or a province's ``3505A``; a fault on the logical number
matches its lettered form too). ``times`` counts down per matching message. Sleeps wait on an event that
``shutdown`` sets, so a server holding a "timeout" request still stops at once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

MODES = ("timeout", "error", "drop_response", "slow", "corrupt", "sign_in_expired")
DEFAULT_DELAY_MS = {"timeout": 30000, "slow": 2000}


@dataclass
class Fault:
    infno: str
    mode: str
    times: int = 1
    delay_ms: int | None = None
    err_msg: str = ""

    @property
    def delay_s(self) -> float:
        ms = self.delay_ms if self.delay_ms is not None else DEFAULT_DELAY_MS.get(self.mode, 0)
        return ms / 1000


class FaultBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.stopping = threading.Event()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, infno: str) -> Fault | None:
        """The first armed fault for this transaction, counted down by one."""
        with self._lock:
            for fault in self._faults:
                if fault.infno == infno and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [vars(f).copy() for f in self._faults]

    def sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)
