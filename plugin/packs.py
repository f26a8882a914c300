"""Drug traceability codes on sale lines: one sale per pack, 拆零 use-up, product match, expiry (issue 6).

National 医保函〔2021〕182号 §6 and Jiangxi §三(五) require the dual-channel drug's flow to be traceable and the fund
protected from fraud: a pack is sold once, a return releases it. The ledger's unique index is the last line of
defence; the checks here come first so the pharmacist reads which earlier sale holds the pack.
"""
from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from typing import Iterable

from plugin.errors import InvalidInput, TraceCodeError
from plugin.ledger import Ledger, now
from plugin.tracecode import Scan, check_expiry, classify, product_matches

ONE = Decimal("1")
#: Sales whose codes no longer hold their packs.
RELEASING_STATES = ("refunded", "cancelled")


def parse_pack(raw: str, *, prefix_len: int, today: date) -> Scan:
    scan = classify(raw, product_prefix_len=prefix_len)
    if scan.kind not in ("trace_code", "gs1") or not scan.code:
        raise TraceCodeError("TRACE_CODE_INVALID",
                          message=f"Not a pack's traceability code (scanned a {scan.kind}).",
                          message_zh="扫描的不是药品追溯码，请扫描药盒上的追溯码。",
                          details={"kind": scan.kind, "fault": "not_a_pack_code"})
    check_expiry(scan, today)
    return scan


def _holders(conn: sqlite3.Connection, code: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.sale_id, t.split, t.qty, s.state, s.created_at FROM trace_codes t JOIN sales s ON s.id = t.sale_id "
        "WHERE t.code = ? AND t.released = 0", (code,)).fetchall()


def _refuse_if_held(conn: sqlite3.Connection, code: str, sale_id: str, split: bool, qty: Decimal) -> None:
    holders = [h for h in _holders(conn, code) if h["sale_id"] != sale_id]
    whole = [h for h in holders if not h["split"]]
    if whole or (holders and not split):
        h = (whole or holders)[0]
        raise TraceCodeError("TRACE_CODE_ALREADY_SOLD",
                          message=f"This pack is already on sale {h['sale_id']} of {h['created_at'][:10]} "
                                  f"({h['state']}).",
                          message_zh=f"该药盒已在{h['created_at'][:10]}的销售单{h['sale_id']}中使用，同一盒药不能重复销售。",
                          details={"code": code, "sale_id": h["sale_id"], "date": h["created_at"][:10],
                                   "state": h["state"]})
    used = sum((Decimal(h["qty"]) for h in holders), Decimal("0"))
    if split and used + qty > ONE:
        raise TraceCodeError("TRACE_CODE_USED_UP",
                          message=f"Only {ONE - used} of this split pack is left; this line needs {qty}.",
                          message_zh=f"该拆零药盒仅剩{ONE - used}盒，本行需要{qty}盒，请扫描新的药盒。",
                          details={"code": code, "remaining": str(ONE - used), "needed": str(qty)})


def _line_for(scan: Scan, lines: list[dict], entries: dict[str, dict], counts: dict[int, int],
              line_no: int | None) -> dict:
    def matches(line: dict) -> bool:
        entry = entries[line["med_list_codg"]]
        return product_matches(scan, trace_prefixes=entry.get("trace_prefixes", []), gtins=entry.get("gtins", []))

    if line_no is not None:
        line = next((l for l in lines if l["line_no"] == line_no), None)
        if line is None:
            raise InvalidInput(f"The sale has no line {line_no}.", f"销售单没有第{line_no}行。", field="line_no")
        if not matches(line):
            raise _mismatch(scan, line)
        return line
    candidates = [l for l in lines if matches(l)]
    if not candidates:
        raise _mismatch(scan, None)
    # Fill lines in order: the first matching line that still needs packs, else the last match (count check later).
    for line in candidates:
        if counts.get(line["line_no"], 0) < needed(line):
            return line
    return candidates[-1]


def _mismatch(scan: Scan, line: dict | None) -> TraceCodeError:
    target = f"line {line['line_no']} ({line['generic_name']})" if line else "any line of this sale"
    return TraceCodeError("TRACE_CODE_PRODUCT_MISMATCH",
                       message=f"Pack {scan.code} does not belong to {target}.",
                       message_zh=f"追溯码{scan.code}对应的药品与{'第' + str(line['line_no']) + '行' if line else '本单任何药品'}不一致，请扫描正确药品的药盒。",
                       details={"code": scan.code, "line_no": line["line_no"] if line else None})


def needed(line: dict) -> int:
    """Codes a line needs: one per whole pack; a 拆零 line one code for its part of a pack."""
    qty = Decimal(line["qty"])
    return 1 if line["trdn_flag"] else int(qty)


def add_codes(conn: sqlite3.Connection, sale_id: str, raws: Iterable[str], *, lines: list[dict],
              entries: dict[str, dict], prefix_len: int, today: date, line_no: int | None = None) -> list[dict]:
    """Attach scanned packs to a sale's lines inside the caller's transaction; all or nothing."""
    existing = conn.execute("SELECT line_no, code FROM trace_codes WHERE sale_id = ? AND released = 0",
                            (sale_id,)).fetchall()
    counts: dict[int, int] = {}
    seen = {r["code"] for r in existing}
    for r in existing:
        counts[r["line_no"]] = counts.get(r["line_no"], 0) + 1
    added = []
    for raw in raws:
        scan = parse_pack(raw, prefix_len=prefix_len, today=today)
        if scan.code in seen:
            raise TraceCodeError("TRACE_CODE_DUPLICATE", details={"code": scan.code})
        seen.add(scan.code)
        line = _line_for(scan, lines, entries, counts, line_no)
        split = bool(line["trdn_flag"])
        qty = Decimal(line["qty"]) if split else ONE
        _refuse_if_held(conn, scan.code, sale_id, split, qty)
        try:
            conn.execute("INSERT INTO trace_codes (sale_id, line_no, code, raw, kind, expiry, split, qty, created_at) "
                         "VALUES (?,?,?,?,?,?,?,?,?)",
                         (sale_id, line["line_no"], scan.code, raw, scan.kind,
                          scan.expiry.isoformat() if scan.expiry else None, int(split), str(qty), now()))
        except sqlite3.IntegrityError:
            raise TraceCodeError("TRACE_CODE_ALREADY_SOLD", details={"code": scan.code}) from None
        counts[line["line_no"]] = counts.get(line["line_no"], 0) + 1
        added.append({"code": scan.code, "line_no": line["line_no"], "kind": scan.kind})
    return added


def remove_codes(conn: sqlite3.Connection, sale_id: str, codes: Iterable[str]) -> int:
    removed = 0
    for code in codes:
        cur = conn.execute("DELETE FROM trace_codes WHERE sale_id = ? AND released = 0 AND (code = ? OR raw = ?)",
                           (sale_id, code.strip(), code))
        if cur.rowcount == 0:
            raise TraceCodeError("TRACE_CODE_NOT_ON_SALE", details={"code": code.strip()[:64]})
        removed += cur.rowcount
    return removed


def check_counts(ledger: Ledger, sale_id: str, lines: list[dict]) -> None:
    """At settle: every line carries exactly the packs it sells (TRACE_CODE_COUNT_MISMATCH otherwise)."""
    rows = ledger.query("SELECT line_no, count(*) AS n FROM trace_codes WHERE sale_id = ? AND released = 0 "
                        "GROUP BY line_no", (sale_id,))
    have = {r["line_no"]: r["n"] for r in rows}
    wrong = [{"line_no": l["line_no"], "med_list_codg": l["med_list_codg"], "needed": needed(l),
              "scanned": have.get(l["line_no"], 0)} for l in lines if have.get(l["line_no"], 0) != needed(l)]
    if wrong:
        first = wrong[0]
        raise TraceCodeError("TRACE_CODE_COUNT_MISMATCH",
                          message=f"Line {first['line_no']} needs {first['needed']} pack code(s); "
                                  f"{first['scanned']} scanned.",
                          message_zh=f"第{first['line_no']}行需要扫描{first['needed']}个追溯码，已扫描{first['scanned']}个。",
                          details={"lines": wrong})
