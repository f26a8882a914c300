"""The hospital level (医院等级) of a prescribing institution, from 【1201】 定点医药机构信息查询
(docs/gateway.md 1201).

Regions whose 门诊特殊疾病 deductible depends on the designated hospital's level (Chongqing 渝医保发〔2021〕12号
§二(四)1) need it for the estimate; no pharmacy transaction carries it (5301/5302 do not). 1201 answers
``medinsinfo[].hosp_lv`` as the national code; the gateway profile's ``[hosp_lv]`` table turns that code into the
policy's level key ("1"/"2"/"3"), and a profile without the table does not ask (a region that does not let a
pharmacy query other institutions). A level that cannot be had leaves the estimate marked incomplete — the
insurer's split is what the patient pays either way. Answers are kept for a day, refusals too; an unreachable
gateway is asked again next time.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from adapters.nhsa import catalogue as cat
from plugin.errors import UpstreamRefused, UpstreamUnavailable
from plugin.upstream import Upstream, insurer_data

log = logging.getLogger("rxlane.catalog")
DAY_S = 86400.0


class InstitutionLevels:
    def __init__(self, upstream: Upstream, levels: dict[str, str], *, ttl_s: float = DAY_S,
                 clock: Callable[[], float] = time.monotonic):
        self.upstream = upstream
        self.levels = dict(levels)
        self.ttl_s = ttl_s
        self.clock = clock
        self._known: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.levels)

    def level(self, fixmedins_code: str) -> str | None:
        """The policy level key of this institution, or None when the profile does not ask, the gateway does not
        know the institution, refuses, answers a code the profile does not map, or cannot be reached."""
        code = (fixmedins_code or "").strip()
        if not code or not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            hit = self._known.get(code)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        try:
            out = self.upstream.query("1201", cat.institution_query_input(code))
            with insurer_data("1201"):
                found = [i for i in cat.parse_institutions(out) if i.fixmedins_code == code]
        except UpstreamUnavailable:
            return None
        except UpstreamRefused as exc:
            log.info("1201 refused for institution %s: %s", code, exc.err_msg)
            found = []
        level = self.levels.get(found[0].hosp_lv.strip()) if found else None
        if found and level is None:
            log.warning("1201 hosp_lv %r of institution %s is not in the gateway profile's [hosp_lv]",
                        found[0].hosp_lv, code)
        with self._lock:
            self._known[code] = (now, level)
        return level
