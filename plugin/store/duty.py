"""The `duty` table: who is on duty at this counter, by role (``pharmacist`` 审方/配药药师, ``checker`` 复核/核对药师).

The counter page sets it at sign-in (``PUT /v1/pharmacist``); each row keeps the whole staff record from the
store's roster (``[[pharmacists]]``), so the uploads of a sale name the person on duty then, even if the roster
changes later.
"""
from __future__ import annotations

from typing import Any

from plugin.store.db import Connection, Database, dumps, loads, now

ROLES = ("pharmacist", "checker")


class DutyTable:
    def __init__(self, db: Database):
        self.db = db

    def current(self, conn: Connection | None = None) -> dict[str, dict[str, Any]]:
        """``{role: {staff…, "since": …}}`` for the roles someone is on duty for."""
        sql = "SELECT role, staff_json, since FROM duty"
        rows = conn.execute(sql).fetchall() if conn is not None else self.db.read(sql)
        return {r["role"]: {**(loads(r["staff_json"]) or {}), "since": r["since"]} for r in rows}

    def set(self, conn: Connection, role: str, staff: dict[str, Any] | None) -> None:
        """Put ``staff`` on duty in ``role``; None takes the role off duty."""
        if role not in ROLES:
            raise ValueError(f"not a duty role: {role}")
        if staff is None:
            conn.execute("DELETE FROM duty WHERE role = ?", (role,))
            return
        conn.execute("INSERT INTO duty (role, staff_json, since) VALUES (?,?,?) ON CONFLICT (role) DO UPDATE SET "
                     "staff_json = excluded.staff_json, since = excluded.since", (role, dumps(staff), now()))
