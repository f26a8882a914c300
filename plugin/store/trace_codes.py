"""The `trace_codes` table: the packs on sale lines. One sale per pack is enforced by a partial unique index
(migrations.py: one unreleased whole-pack row per code); the queries here let the caller say *which* sale holds a
pack before that index has to."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from plugin.sale import TraceCode
from plugin.store.db import Connection, Database, Row, now


def _code(r: Row) -> TraceCode:
    return TraceCode(sale_id=r["sale_id"], line_no=r["line_no"], code=r["code"], raw=r["raw"], kind=r["kind"],
                     expiry=date.fromisoformat(r["expiry"]) if r["expiry"] else None, trdn=bool(r["trdn"]),
                     qty=Decimal(r["qty"]), released=bool(r["released"]), created_at=r["created_at"])


class Holder(tuple):
    """(sale_id, trdn, qty, sale state, sale created_at) of a sale holding a pack."""

    @property
    def sale_id(self) -> str:
        return self[0]

    @property
    def trdn(self) -> bool:
        return bool(self[1])

    @property
    def qty(self) -> Decimal:
        return Decimal(self[2])

    @property
    def state(self) -> str:
        return self[3]

    @property
    def created_at(self) -> str:
        return self[4]


class TraceCodesTable:
    def __init__(self, db: Database):
        self.db = db

    def for_sale(self, sale_id: str, conn: Connection | None = None, *, held_only: bool = False) -> list[TraceCode]:
        sql = "SELECT * FROM trace_codes WHERE sale_id = ?" + (" AND released = 0" if held_only else "") + \
              " ORDER BY id"
        rows = conn.execute(sql, (sale_id,)).fetchall() if conn is not None else self.db.read(sql, (sale_id,))
        return [_code(r) for r in rows]

    def holders(self, conn: Connection, code: str) -> list[Holder]:
        """Every unreleased holding of ``code``, with the holding sale's state and creation time."""
        return [Holder((r["sale_id"], r["trdn"], r["qty"], r["state"], r["created_at"])) for r in conn.execute(
            "SELECT t.sale_id, t.trdn, t.qty, s.state, s.created_at FROM trace_codes t "
            "JOIN sales s ON s.id = t.sale_id WHERE t.code = ? AND t.released = 0", (code,)).fetchall()]

    def case_twins(self, conn: Connection, code: str) -> list[tuple[str, Holder]]:
        """Unreleased holdings of a code equal to ``code`` but for letter case (ASCII), with the code as held: a GS1
        serial scanned once with Caps Lock on is another string for the pack. Uses the NOCASE index (migration 6)."""
        return [(r["code"], Holder((r["sale_id"], r["trdn"], r["qty"], r["state"], r["created_at"])))
                for r in conn.execute(
                    "SELECT t.code, t.sale_id, t.trdn, t.qty, s.state, s.created_at FROM trace_codes t "
                    "JOIN sales s ON s.id = t.sale_id WHERE t.code = ? COLLATE NOCASE AND t.released = 0 "
                    "AND t.code != ?", (code, code)).fetchall()]

    def add(self, conn: Connection, *, sale_id: str, line_no: int, code: str, raw: str, kind: str,
            expiry: date | None, trdn: bool, qty: Decimal) -> None:
        """Raises sqlite3.IntegrityError when another sale holds the whole pack (the unique index)."""
        conn.execute("INSERT INTO trace_codes (sale_id, line_no, code, raw, kind, expiry, trdn, qty, created_at) "
                     "VALUES (?,?,?,?,?,?,?,?,?)",
                     (sale_id, line_no, code, raw, kind, expiry.isoformat() if expiry else None, int(trdn),
                      str(qty), now()))

    def remove(self, conn: Connection, sale_id: str, code: str, raw: str) -> int:
        """Drop a held code from a sale (by its code or the raw scan); returns rows removed."""
        return conn.execute("DELETE FROM trace_codes WHERE sale_id = ? AND released = 0 AND (code = ? OR raw = ?)",
                            (sale_id, code, raw)).rowcount

    def release(self, conn: Connection, sale_id: str) -> None:
        """The sale's packs are free again (refund, cancellation)."""
        conn.execute("UPDATE trace_codes SET released = 1 WHERE sale_id = ?", (sale_id,))

    def count(self, conn: Connection, sale_id: str) -> int:
        return conn.execute("SELECT count(*) FROM trace_codes WHERE sale_id = ?", (sale_id,)).fetchone()[0]

    def held_per_line(self, sale_id: str) -> dict[int, int]:
        return {r["line_no"]: r["n"] for r in self.db.read(
            "SELECT line_no, count(*) AS n FROM trace_codes WHERE sale_id = ? AND released = 0 GROUP BY line_no",
            (sale_id,))}

    def codes_per_line(self, sale_id: str, kinds: tuple[str, ...] | None = None) -> dict[int, list[str]]:
        """The sale's codes by line, in scan order; ``kinds`` keeps only codes of those kinds (e.g. what the
        gateway takes for upload: plugin/packs.py ``uploaded_kinds``)."""
        out: dict[int, list[str]] = {}
        for r in self.db.read("SELECT line_no, code, kind FROM trace_codes WHERE sale_id = ? ORDER BY id", (sale_id,)):
            if kinds is None or r["kind"] in kinds:
                out.setdefault(r["line_no"], []).append(r["code"])
        return out
