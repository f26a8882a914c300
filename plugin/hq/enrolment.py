"""Which stores may push to HQ: `rxlane hq enroll STORE_ID` issues a token, shown once; HQ keeps its sha256 only.

A token is 32 random bytes (URL-safe base64, prefixed ``rxhq_`` so it is recognisable in a leaked config). Looking
one up is a query on its hash, so the database never holds anything a thief could push with. Revoking keeps the
store's row and history; enrolling a revoked or enrolled store again needs ``rotate`` and issues a new token.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from plugin.errors import InvalidInput, NotFound, RxlaneError
from plugin.hq.db import Database
from plugin.hq.schema import stores

STORE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TOKEN_PREFIX = "rxhq_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_store_id(store_id: Any) -> str:
    """The store id as given, if it is one; else InvalidInput (field store_id)."""
    if not isinstance(store_id, str) or not STORE_ID_RE.match(store_id):
        raise InvalidInput("store_id must be 1–64 letters, digits, '_', '-', '.' (the inventory's store_id)",
                           "门店编号应为 1–64 位字母、数字或 _ - .（与门店清单的 store_id 一致）", field="store_id")
    return store_id


@dataclass(frozen=True)
class Enrolled:
    store_id: str
    token: str            # shown once
    rotated: bool


def enroll(db: Database, store_id: str, *, region: str = "", rotate: bool = False,
           now: float | None = None) -> Enrolled:
    """Enrol a store (or, with ``rotate``, give an enrolled or revoked one a new token)."""
    check_store_id(store_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = time.time() if now is None else now
    with db.begin() as conn:
        exists = conn.execute(sa.select(stores.c.store_id).where(stores.c.store_id == store_id)).first()
        if exists and not rotate:
            raise RxlaneError("INVALID_STATE", f"store {store_id} is already enrolled; --rotate issues a new token "
                                               "(the old one stops working)",
                              f"门店 {store_id} 已登记；如需更换令牌请加 --rotate（旧令牌随即失效）。",
                              {"store_id": store_id})
        if exists:
            values = {"token_hash": token_hash(token), "revoked_at": None}
            if region:
                values["region"] = region
            conn.execute(sa.update(stores).where(stores.c.store_id == store_id).values(**values))
        else:
            conn.execute(sa.insert(stores).values(store_id=store_id, token_hash=token_hash(token), enrolled_at=now,
                                                  region=region or ""))
    return Enrolled(store_id, token, rotated=bool(exists))


def revoke(db: Database, store_id: str, now: float | None = None) -> None:
    """Refuse the store's token from now on (its history stays)."""
    with db.begin() as conn:
        done = conn.execute(sa.update(stores).where(stores.c.store_id == store_id, stores.c.revoked_at.is_(None))
                            .values(revoked_at=time.time() if now is None else now))
        if done.rowcount == 0:
            known = conn.execute(sa.select(stores.c.revoked_at).where(stores.c.store_id == store_id)).first()
            if known is None:
                raise NotFound(f"store {store_id}", store_id=store_id)


def store_of(conn: sa.Connection, token: str | None) -> str:
    """The store a bearer token belongs to; raises STORE_UNKNOWN / STORE_REVOKED."""
    if not token:
        raise RxlaneError("UNAUTHORIZED", "Send the store's token as 'Authorization: Bearer <token>'.",
                          "请在 Authorization 头中携带门店令牌（Bearer）。")
    row = conn.execute(sa.select(stores.c.store_id, stores.c.revoked_at)
                       .where(stores.c.token_hash == token_hash(token))).first()
    if row is None:
        raise RxlaneError("STORE_UNKNOWN")
    if row.revoked_at is not None:
        raise RxlaneError("STORE_REVOKED", details={"store_id": row.store_id})
    return row.store_id
