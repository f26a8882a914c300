"""`POST /v1/hq/reports`: stores push their monthly report; HQ builds the chain report from what they pushed.

Every version a store pushes for a month is kept. The same report again is a no-op (``duplicate``). A report with
other figures for a month HQ already has is **kept and flagged** (``REPORT_CONFLICT``, with every version of that
month marked), never silently overwritten: a late refund or a resolved in-doubt sale legitimately changes a month,
and HQ's IT decides. The chain report uses each store's newest version and lists the flagged ones beside the
figures, which are summed exactly as `rxlane fleet report` sums a directory of the same reports.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from plugin.errors import InvalidInput, NotFound
from plugin.fleet.rollup import rollup
from plugin.hq.db import Database
from plugin.hq.schema import reports, stores
from plugin.reports import month_bounds


def canonical(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def check_report(report: Any) -> dict[str, Any]:
    if not isinstance(report, dict) or report.get("report") != "monthly" or not isinstance(report.get("totals"),
                                                                                             dict):
        raise InvalidInput("The body must be an rxlane monthly report ({\"report\": \"monthly\", \"month\", "
                           "\"totals\", …}).", "请求内容必须是 rxlane 月报（report 为 monthly）。", field="report")
    month = report.get("month")
    month_bounds(month if isinstance(month, str) else "")
    return report


@dataclass(frozen=True)
class Stored:
    store_id: str
    month: str
    version: int
    sha256: str
    duplicate: bool
    flagged: bool

    def to_json(self) -> dict[str, Any]:
        return {"store_id": self.store_id, "month": self.month, "version": self.version, "sha256": self.sha256,
                "duplicate": self.duplicate, "flagged": self.flagged}


def store_report(db: Database, store_id: str, report: dict[str, Any], now: float) -> Stored:
    """Keep one pushed report (see the module docstring)."""
    text = canonical(check_report(report))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    month = report["month"]
    for _attempt in range(3):
        try:
            with db.begin() as conn:
                versions = conn.execute(sa.select(reports.c.version, reports.c.sha256).where(
                    reports.c.store_id == store_id, reports.c.month == month).order_by(reports.c.version)).all()
                same = [v.version for v in versions if v.sha256 == digest]
                if same:
                    return Stored(store_id, month, same[-1], digest, duplicate=True, flagged=len(versions) > 1)
                version = len(versions) + 1
                flagged = version > 1
                conn.execute(sa.insert(reports).values(store_id=store_id, month=month, version=version,
                                                       received_at=now, sha256=digest, flagged=flagged, body=text))
                if flagged:
                    conn.execute(sa.update(reports).where(reports.c.store_id == store_id, reports.c.month == month)
                                 .values(flagged=True))
                return Stored(store_id, month, version, digest, duplicate=False, flagged=flagged)
        except sa.exc.IntegrityError:
            continue        # another HQ process stored a version of this month at the same moment: read again
    raise InvalidInput("the report could not be stored; send it again", "月报保存冲突，请重新发送。")


def versions(conn: sa.Connection, store_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(reports.c.month, reports.c.version, reports.c.received_at, reports.c.sha256,
                                  reports.c.flagged).where(reports.c.store_id == store_id)
                        .order_by(reports.c.month.desc(), reports.c.version.desc())).mappings()
    return [dict(r) for r in rows]


def chain_report(db: Database, month: str) -> dict[str, Any]:
    """The chain's month from the newest version each store pushed; raises NotFound when none did."""
    month_bounds(month)
    with db.connect() as conn:
        rows = conn.execute(sa.select(reports.c.store_id, reports.c.version, reports.c.body, reports.c.flagged)
                            .where(reports.c.month == month).order_by(reports.c.store_id, reports.c.version)).all()
        enrolled = [r.store_id for r in conn.execute(sa.select(stores.c.store_id)
                                                     .where(stores.c.revoked_at.is_(None))
                                                     .order_by(stores.c.store_id))]
    newest: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for row in rows:
        newest[row.store_id] = row
        counts[row.store_id] = counts.get(row.store_id, 0) + 1
    if not newest:
        raise NotFound(f"reports for {month}", month=month)
    chain = rollup([(store_id, json.loads(row.body)) for store_id, row in sorted(newest.items())])
    chain["flagged"] = [{"store_id": s, "versions": counts[s], "used_version": newest[s].version}
                        for s in sorted(newest) if counts[s] > 1]
    chain["stores_without_report"] = [s for s in enrolled if s not in newest]
    return chain
