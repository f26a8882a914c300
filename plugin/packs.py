"""Drug traceability codes on sale lines: one sale per pack, 拆零 use-up, product match, expiry (issue 6).

National 医保函〔2021〕182号 §6 and Jiangxi §三(五) require the dual-channel drug's flow to be traceable and the fund
protected from fraud: a pack is sold once, a return releases it. The ledger's unique index is the last line of
defence; the checks here come first so the pharmacist reads which earlier sale holds the pack.
"""
from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from plugin.errors import InvalidInput, TraceCodeError
from plugin.sale import SaleLine
from plugin.store import Connection
from plugin.store.trace_codes import TraceCodesTable
from plugin.tracecode import Scan, check_expiry, classify, product_matches

ONE = Decimal("1")


def parse_pack(raw: str, *, prefix_len: int, today: date) -> Scan:
    scan = classify(raw, product_prefix_len=prefix_len)
    if scan.kind not in ("trace_code", "gs1") or not scan.code:
        raise TraceCodeError("TRACE_CODE_INVALID",
                          message=f"Not a pack's traceability code (scanned a {scan.kind}).",
                          message_zh="扫描的不是药品追溯码，请扫描药盒上的追溯码。",
                          details={"kind": scan.kind, "fault": "not_a_pack_code"})
    check_expiry(scan, today)
    return scan


def _refuse_if_held(codes: TraceCodesTable, conn: Connection, code: str, sale_id: str, trdn: bool,
                    qty: Decimal) -> None:
    holders = [h for h in codes.holders(conn, code) if h.sale_id != sale_id]
    whole = [h for h in holders if not h.trdn]
    if whole or (holders and not trdn):
        h = (whole or holders)[0]
        raise TraceCodeError("TRACE_CODE_ALREADY_SOLD",
                             message=f"This pack is already on sale {h.sale_id} of {h.created_at[:10]} ({h.state}).",
                             message_zh=f"该药盒已在{h.created_at[:10]}的销售单{h.sale_id}中使用，同一盒药不能重复销售。",
                             details={"code": code, "sale_id": h.sale_id, "date": h.created_at[:10],
                                      "state": h.state})
    used = sum((h.qty for h in holders), Decimal("0"))
    if trdn and used + qty > ONE:
        raise TraceCodeError("TRACE_CODE_USED_UP",
                          message=f"Only {ONE - used} of this split pack is left; this line needs {qty}.",
                          message_zh=f"该拆零药盒仅剩{ONE - used}盒，本行需要{qty}盒，请扫描新的药盒。",
                          details={"code": code, "remaining": str(ONE - used), "needed": str(qty)})


def _line_for(scan: Scan, lines: list[SaleLine], entries: dict[str, dict[str, Any]], counts: dict[int, int],
              line_no: int | None) -> SaleLine:
    """The line a scanned pack belongs to. A pack is checked against the drug's product prefixes and GTINs from
    the province's list (or the store's own product data); a drug with neither cannot be checked at the counter
    — the code goes out with the sale and the traceability platform checks it — so it takes packs that match no
    checkable line of the sale."""
    def known(line: SaleLine) -> bool:
        entry = entries.get(line.med_list_codg) or {}
        return bool(entry.get("trace_prefixes") or entry.get("gtins"))

    def matches(line: SaleLine) -> bool:
        entry = entries.get(line.med_list_codg) or {}
        return product_matches(scan, trace_prefixes=entry.get("trace_prefixes", []), gtins=entry.get("gtins", []))

    if line_no is not None:
        line = next((ln for ln in lines if ln.line_no == line_no), None)
        if line is None:
            raise InvalidInput(f"The sale has no line {line_no}.", f"销售单没有第{line_no}行。", field="line_no")
        if known(line) and not matches(line):
            raise _mismatch(scan, line)
        if not known(line) and any(known(ln) and matches(ln) for ln in lines if ln is not line):
            raise _mismatch(scan, line)          # it is another line's drug
        return line
    candidates = [ln for ln in lines if known(ln) and matches(ln)]
    if not candidates and not any(matches(ln) for ln in lines):
        candidates = [ln for ln in lines if not known(ln)]
    if not candidates:
        raise _mismatch(scan, None)
    # Fill lines in order: the first matching line that still needs packs, else the last match (count check later).
    for line in candidates:
        if counts.get(line.line_no, 0) < line.packs_needed:
            return line
    return candidates[-1]


def _mismatch(scan: Scan, line: SaleLine | None) -> TraceCodeError:
    target = f"line {line.line_no} ({line.generic_name})" if line else "any line of this sale"
    where = f"第{line.line_no}行" if line else "本单任何药品"
    return TraceCodeError("TRACE_CODE_PRODUCT_MISMATCH",
                          message=f"Pack {scan.code} does not belong to {target}.",
                          message_zh=f"追溯码{scan.code}对应的药品与{where}不一致，请扫描正确药品的药盒。",
                          details={"code": scan.code, "line_no": line.line_no if line else None})


def add_codes(codes: TraceCodesTable, conn: Connection, sale_id: str, raws: Iterable[str], *,
              lines: list[SaleLine], entries: dict[str, dict[str, Any]], prefix_len: int, today: date,
              line_no: int | None = None) -> list[dict[str, Any]]:
    """Attach scanned packs to a sale's lines inside the caller's transaction; all or nothing. Returns
    ``[{code, line_no, kind}]`` for the packs added."""
    existing = codes.for_sale(sale_id, conn, held_only=True)
    counts: dict[int, int] = {}
    seen = {c.code for c in existing}
    for c in existing:
        counts[c.line_no] = counts.get(c.line_no, 0) + 1
    added = []
    for raw in raws:
        scan = parse_pack(raw, prefix_len=prefix_len, today=today)
        if scan.code in seen:
            raise TraceCodeError("TRACE_CODE_DUPLICATE", details={"code": scan.code})
        seen.add(scan.code)
        line = _line_for(scan, lines, entries, counts, line_no)
        qty = line.qty if line.trdn else ONE
        _refuse_if_held(codes, conn, scan.code, sale_id, line.trdn, qty)
        try:
            codes.add(conn, sale_id=sale_id, line_no=line.line_no, code=scan.code or "", raw=raw, kind=scan.kind,
                      expiry=scan.expiry, trdn=line.trdn, qty=qty)
        except sqlite3.IntegrityError:
            raise TraceCodeError("TRACE_CODE_ALREADY_SOLD", details={"code": scan.code}) from None
        counts[line.line_no] = counts.get(line.line_no, 0) + 1
        added.append({"code": scan.code, "line_no": line.line_no, "kind": scan.kind})
    return added


def remove_codes(codes: TraceCodesTable, conn: Connection, sale_id: str, raws: Iterable[str]) -> int:
    removed = 0
    for raw in raws:
        n = codes.remove(conn, sale_id, raw.strip(), raw)
        if n == 0:
            raise TraceCodeError("TRACE_CODE_NOT_ON_SALE", details={"code": raw.strip()[:64]})
        removed += n
    return removed


def check_counts(codes: TraceCodesTable, sale_id: str, lines: list[SaleLine]) -> None:
    """At settle: every line carries exactly the packs it sells (TRACE_CODE_COUNT_MISMATCH otherwise)."""
    have = codes.held_per_line(sale_id)
    wrong = [{"line_no": ln.line_no, "med_list_codg": ln.med_list_codg, "needed": ln.packs_needed,
              "scanned": have.get(ln.line_no, 0)} for ln in lines if have.get(ln.line_no, 0) != ln.packs_needed]
    if wrong:
        first = wrong[0]
        raise TraceCodeError("TRACE_CODE_COUNT_MISMATCH",
                          message=f"Line {first['line_no']} needs {first['needed']} pack code(s); "
                                  f"{first['scanned']} scanned.",
                          message_zh=f"第{first['line_no']}行需要扫描{first['needed']}个追溯码，已扫描{first['scanned']}个。",
                          details={"lines": wrong})
