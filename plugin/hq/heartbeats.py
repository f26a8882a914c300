"""`POST /v1/hq/heartbeats`: a store's health JSON plus ``{store_id, seq}``, idempotent and ordered by ``seq``.

A store numbers its heartbeats 1, 2, 3 … and keeps the number in its data dir; one that was offline sends the
heartbeats it missed, oldest first. HQ applies a heartbeat only when its ``seq`` is above the store's newest, in
one atomic statement that also takes the store's row lock (``UPDATE … WHERE last_seq < :seq``), so two HQ processes
behind a load balancer can never apply an older one over a newer one. Refusals (nothing written):

* ``HEARTBEAT_REPLAYED`` (409) — HQ has this ``seq`` already; ``same_body`` says whether it is the same heartbeat
  (a retry after a lost answer: the store counts it delivered);
* ``HEARTBEAT_OUT_OF_ORDER`` (409) — HQ has a newer one (``last_seq``); the store skips ahead;
* ``STORE_UNKNOWN`` (401), ``STORE_REVOKED`` (403), ``FORBIDDEN`` (403, another store's token), ``INVALID_INPUT``.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from plugin.errors import InvalidInput, RxlaneError
from plugin.fleet.status import classify, items, node
from plugin.hq.db import Database
from plugin.hq.enrolment import check_store_id, store_of, token_hash
from plugin.hq.schema import heartbeats, stores
from plugin.privacy import scrub

MAX_SEQ = 2 ** 53
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 31 else None


def _text(value: Any, limit: int) -> str:
    """A short label from the body: control characters removed (PostgreSQL text cannot hold NUL)."""
    return _CONTROL.sub("", value)[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class Beat:
    """One heartbeat as HQ keeps it: the figures the page shows, and the whole body (scrubbed)."""

    store_id: str
    seq: int
    sent_at: float | None
    health: str
    problems: tuple[str, ...]
    version: str | None
    outbox_pending: int | None
    outbox_parked: int | None
    outbox_oldest_age_s: float | None
    in_doubt: int | None
    device_errors: int
    upstream_reachable: bool | None
    list_version: str | None
    region: str
    fixmedins_code: str
    fixmedins_name: str
    body: str
    body_sha256: str

    def current_state(self) -> dict[str, Any]:
        """The ``hq_stores`` columns this heartbeat sets."""
        state = {k: getattr(self, k) for k in ("sent_at", "health", "version", "outbox_pending", "outbox_parked",
                                                 "outbox_oldest_age_s", "in_doubt", "device_errors",
                                                 "upstream_reachable", "list_version")}
        state.update(last_seq=self.seq, problems=",".join(self.problems), last_body=self.body)
        for key in ("region", "fixmedins_code", "fixmedins_name"):
            if getattr(self, key):
                state[key] = getattr(self, key)
        return state

    def history_row(self, received_at: float) -> dict[str, Any]:
        return {"store_id": self.store_id, "seq": self.seq, "received_at": received_at, "sent_at": self.sent_at,
                "body_sha256": self.body_sha256, "health": self.health, "problems": ",".join(self.problems),
                "version": self.version, "outbox_pending": self.outbox_pending, "in_doubt": self.in_doubt,
                "list_version": self.list_version}


def _sent_at(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("sent_at must be an ISO 8601 time", "sent_at 应为 ISO 8601 时间", field="sent_at")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("sent_at must be an ISO 8601 time", "sent_at 应为 ISO 8601 时间", field="sent_at") from None
    if when.tzinfo is None:
        raise InvalidInput("sent_at must carry its UTC offset", "sent_at 须带时区", field="sent_at")
    return when.timestamp()


def parse_beat(body: Any, backlog_age_s: float = 3600) -> Beat:
    """A heartbeat body → Beat; raises InvalidInput naming the field. The health part must be rxlane's health
    JSON (``status`` ok/degraded); the problems HQ shows are derived as `rxlane fleet status` derives them."""
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.", "请求内容必须是 JSON 对象。")
    store_id = check_store_id(body.get("store_id"))
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq < MAX_SEQ:
        raise InvalidInput("seq must be a whole number from 1 (the store's heartbeat counter)",
                           "seq 应为从 1 开始的整数（门店心跳序号）", field="seq")
    try:
        health, problems = classify(body, backlog_age_s)
    except ValueError:
        raise InvalidInput("status must be 'ok' or 'degraded': the body is not rxlane's health JSON",
                           "status 应为 ok 或 degraded：内容不是 rxlane 的健康状态", field="status") from None
    outbox, upstream, store, listed = (node(body, k) for k in ("outbox", "upstream", "store", "dual_channel_list"))
    devices = items(body, "devices")
    oldest = outbox.get("oldest_age_s")
    text = scrub(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str))
    return Beat(
        store_id=store_id, seq=seq, sent_at=_sent_at(body.get("sent_at")), health=body["status"],
        problems=tuple(problems), version=_text(body.get("version"), 40) or None,
        outbox_pending=_int(outbox.get("pending")), outbox_parked=_int(outbox.get("parked")),
        outbox_oldest_age_s=float(oldest) if isinstance(oldest, (int, float)) and not isinstance(oldest, bool)
        else None,
        in_doubt=_int(body.get("in_doubt")),
        device_errors=sum(1 for d in devices if isinstance(d, dict) and d.get("state") == "error"),
        upstream_reachable=upstream.get("reachable") if isinstance(upstream.get("reachable"), bool) else None,
        list_version=_text(listed.get("version"), 64) or None, region=_text(store.get("region"), 32),
        fixmedins_code=_text(store.get("fixmedins_code"), 32), fixmedins_name=_text(store.get("fixmedins_name"), 200),
        body=text, body_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


#: what a heartbeat sets on the store's row, and what it adds to the history
STATE_COLUMNS = ("last_seen", "last_seq", "sent_at", "health", "problems", "version", "outbox_pending",
                 "outbox_parked", "outbox_oldest_age_s", "in_doubt", "device_errors", "upstream_reachable",
                 "list_version", "last_body", "region", "fixmedins_code", "fixmedins_name")
HISTORY_COLUMNS = ("seq", "received_at", "sent_at", "body_sha256", "health", "problems", "version",
                   "outbox_pending", "in_doubt", "list_version")

# Built once: SQLAlchemy then compiles each statement once, and a heartbeat only binds values (building the
# statement per request cost more CPU than the database's work). The token, the store, revocation and the order are
# all conditions of one UPDATE; the region and names keep their old values when a heartbeat has none.
_KEEP_WHEN_ABSENT = ("region", "fixmedins_code", "fixmedins_name")


def _set(column: str) -> Any:
    value = sa.bindparam(f"s_{column}", type_=stores.c[column].type)
    return sa.func.coalesce(value, stores.c[column]) if column in _KEEP_WHEN_ABSENT else value


_UPDATE = sa.update(stores).where(
    stores.c.token_hash == sa.bindparam("w_token_hash"), stores.c.store_id == sa.bindparam("w_store_id"),
    stores.c.revoked_at.is_(None), stores.c.last_seq < sa.bindparam("w_seq"),
).values({c: _set(c) for c in STATE_COLUMNS})
_INSERT = sa.insert(heartbeats).values({c: sa.bindparam(f"h_{c}", type_=heartbeats.c[c].type)
                                        for c in ("store_id", *HISTORY_COLUMNS)})
# PostgreSQL: one statement, one round trip, atomic on its own — the history row exists only if the update did.
_APPLIED = _UPDATE.returning(stores.c.store_id).cte("applied")
_APPLY_PG = sa.insert(heartbeats).from_select(
    ["store_id", *HISTORY_COLUMNS],
    sa.select(_APPLIED.c.store_id, *[sa.bindparam(f"h_{c}", type_=heartbeats.c[c].type) for c in HISTORY_COLUMNS]),
).returning(heartbeats.c.seq)


def _params(token: str, beat: Beat, now: float) -> dict[str, Any]:
    state = {**beat.current_state(), "last_seen": now}
    for key in _KEEP_WHEN_ABSENT:
        state.setdefault(key, None)
    params = {f"s_{c}": state[c] for c in STATE_COLUMNS}
    params.update({f"h_{k}": v for k, v in beat.history_row(now).items()})
    params.update(w_token_hash=token_hash(token), w_store_id=beat.store_id, w_seq=beat.seq)
    return params


def _apply(conn: sa.Connection, dialect: str, token: str, beat: Beat, now: float) -> bool:
    """The store's row moves forward and the history row is added — or nothing happens (False)."""
    params = _params(token, beat, now)
    if dialect == "postgresql":
        return conn.execute(_APPLY_PG, params).first() is not None
    if conn.execute(_UPDATE, params).rowcount != 1:
        return False
    conn.execute(_INSERT, params)
    return True


def accept(db: Database, token: str | None, beat: Beat, now: float) -> dict[str, Any]:
    """Apply one heartbeat (see the module docstring); returns ``{"store_id", "seq", "received_at"}``."""
    if token:
        if db.dialect == "postgresql":
            with db.connect() as conn:
                done = _apply(conn.execution_options(isolation_level="AUTOCOMMIT"), db.dialect, token, beat, now)
        else:
            with db.begin() as conn:
                done = _apply(conn, db.dialect, token, beat, now)
        if done:
            return {"store_id": beat.store_id, "seq": beat.seq, "received_at": now}
    with db.connect() as conn:          # nothing was written: say why
        owner = store_of(conn, token)
        if owner != beat.store_id:
            raise RxlaneError("FORBIDDEN", f"This token belongs to store {owner}, not {beat.store_id}.",
                              f"该令牌属于门店 {owner}，不是 {beat.store_id}。", {"store_id": beat.store_id})
        last_seq = conn.execute(sa.select(stores.c.last_seq).where(stores.c.store_id == beat.store_id)).scalar()
        prior = conn.execute(sa.select(heartbeats.c.body_sha256).where(
            heartbeats.c.store_id == beat.store_id, heartbeats.c.seq == beat.seq)).scalar()
    details = {"store_id": beat.store_id, "seq": beat.seq, "last_seq": last_seq}
    if prior is not None:
        raise RxlaneError("HEARTBEAT_REPLAYED", details={**details, "same_body": prior == beat.body_sha256})
    raise RxlaneError("HEARTBEAT_OUT_OF_ORDER", details=details)


def history(conn: sa.Connection, store_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(heartbeats).where(heartbeats.c.store_id == store_id)
                        .order_by(heartbeats.c.seq.desc()).limit(limit)).mappings()
    return [{**dict(r), "problems": [p for p in (r["problems"] or "").split(",") if p]} for r in rows]


def prune(db: Database, before: float, batch: int = 5000) -> int:
    """Delete history older than ``before`` in batches (a store's newest state stays in ``hq_stores``)."""
    removed = 0
    while True:
        with db.begin() as conn:
            keys = sa.select(heartbeats.c.store_id, heartbeats.c.seq).where(heartbeats.c.received_at < before) \
                .limit(batch)
            n = conn.execute(sa.delete(heartbeats).where(
                sa.tuple_(heartbeats.c.store_id, heartbeats.c.seq).in_(keys))).rowcount
        removed += n
        if n < batch:
            return removed
