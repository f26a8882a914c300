"""Drug traceability codes on sale lines: one sale per pack, 拆零 use-up, product match, expiry (issue 6).

National 医保函〔2021〕182号 §6 and Jiangxi §三(五) require the dual-channel drug's flow to be traceable and the fund
protected from fraud: a pack is sold once, a return releases it. The ledger's unique index is the last line of
defence; the checks here come first so the pharmacist reads which earlier sale holds the pack — and whether that
sale is an unsettled draft whose pack may be released (an abandoned draft must not block the pack for good).

A GS1 serial differs from a held one only by letter case when it was typed with Caps Lock on (plugin/scanhints.py):
that is the same box unless the pharmacist confirms otherwise, naming the earlier sale (``distinct_from``).
Manufacturers' own codes (``other_code``, where the region allows them) keep one sale per pack like the others.
"""
from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from typing import Any
from collections.abc import Iterable

from plugin.errors import STATE_NAMES_ZH, InvalidInput, TraceCodeError
from plugin.sale import SaleLine, SaleState
from plugin.store import Connection
from plugin.scanhints import hint
from plugin.store.trace_codes import Holder, TraceCodesTable
from plugin.tracecode import PACK_KINDS, Scan, ScanRules, check_expiry, product_matches

ONE = Decimal("1")
#: A draft's packs may be released for another sale: nothing was charged for them.
_RELEASABLE = frozenset({SaleState.DRAFT.value, SaleState.PRESETTLED.value, SaleState.REVERSED.value})
#: What a scan altered on the way may not become: a pack code (plugin/scanhints.py).
_REFUSED_HINTS = ("caps_lock", "input_method")


def uploaded_kinds(upload_other_codes: bool) -> tuple[str, ...]:
    """Pack kinds whose codes go to the insurer's upload (3505/3506): the national and GS1 codes always, a
    manufacturer's own codes only where the gateway takes them (``[scanning] upload_other_codes``)."""
    return ("trace_code", "gs1", "other_code") if upload_other_codes else ("trace_code", "gs1")


def parse_pack(raw: str, *, rules: ScanRules, today: date) -> Scan:
    scan = rules.classify(raw)
    altered = next((h for h in scan.hints if h.code in _REFUSED_HINTS), None)
    if altered is not None:
        raise TraceCodeError("TRACE_CODE_INVALID", altered.message, altered.message_zh, details={"fault": altered.code})
    if scan.kind not in PACK_KINDS or not scan.code:
        raise TraceCodeError("TRACE_CODE_INVALID",
                          message=f"Not a pack's traceability code (scanned a {scan.kind}).",
                          message_zh="扫描的不是药品追溯码，请扫描药盒上的追溯码。",
                          details={"kind": scan.kind, "fault": "not_a_pack_code"})
    check_expiry(scan, today)
    return scan


def _held(code: str, h: Holder) -> TraceCodeError:
    """The pack is on another sale: which one, and whether it is a draft whose pack can be released."""
    day, details = h.created_at[:10], {"code": code, "sale_id": h.sale_id, "date": h.created_at[:10],
                                       "state": h.state, "releasable": h.state in _RELEASABLE}
    if h.state in _RELEASABLE:
        state_zh = STATE_NAMES_ZH.get(h.state, h.state)
        return TraceCodeError(
            "TRACE_CODE_ALREADY_SOLD",
            message=f"This pack is held by the unsettled sale {h.sale_id} of {day} ({h.state}); nothing was charged "
                    "for it. If that sale was abandoned, release the pack from it and scan it again.",
            message_zh=f"该药盒已在{day}未结算的销售单{h.sale_id}（{state_zh}）中，同一盒药不能重复销售；"
                       "如该单已放弃，可将药盒从该单释放后再扫描。", details=details)
    return TraceCodeError("TRACE_CODE_ALREADY_SOLD",
                          message=f"This pack is already on sale {h.sale_id} of {day} ({h.state}).",
                          message_zh=f"该药盒已在{day}的销售单{h.sale_id}中使用，同一盒药不能重复销售。",
                          details=details)


def _refuse_case_twin(codes: TraceCodesTable, conn: Connection, code: str, sale_id: str,
                      distinct_from: frozenset[str]) -> None:
    """Same GTIN, serial equal but for letter case: the box scanned with Caps Lock on, unless the pharmacist
    names the earlier sale to confirm it is another box."""
    if not any(ch.isalpha() for ch in code):
        return   # digits only (every national code): no twin can exist, and the check costs a query
    for held, h in codes.case_twins(conn, code):
        if h.sale_id == sale_id or h.sale_id in distinct_from:
            continue
        day = h.created_at[:10]
        raise TraceCodeError(
            "TRACE_CODE_CASE_VARIANT",
            message=f"This pack's code differs from {held} on sale {h.sale_id} of {day} only by letter case (Caps "
                    f"Lock?): it is most likely the same box. Turn Caps Lock off and scan again; if it really is "
                    f"another box, confirm by naming sale {h.sale_id} (distinct_from).",
            message_zh=f"该药盒追溯码与{day}销售单{h.sale_id}中的药盒仅字母大小写不同（可能开启了大写锁定），"
                       f"很可能是同一盒药。请关闭大写锁定后重新扫描；确属不同药盒时，须确认与销售单{h.sale_id}不同后再添加。",
            details={"code": code, "held_code": held, "sale_id": h.sale_id, "date": day, "state": h.state})


def _refuse_if_held(codes: TraceCodesTable, conn: Connection, code: str, sale_id: str, trdn: bool,
                    qty: Decimal) -> None:
    holders = [h for h in codes.holders(conn, code) if h.sale_id != sale_id]
    whole = [h for h in holders if not h.trdn]
    if whole or (holders and not trdn):
        raise _held(code, (whole or holders)[0])
    used = sum((h.qty for h in holders), Decimal("0"))
    if trdn and used + qty > ONE:
        raise TraceCodeError("TRACE_CODE_USED_UP",
                          message=f"Only {ONE - used} of this split pack is left; this line needs {qty}.",
                          message_zh=f"该拆零药盒仅剩{ONE - used}盒，本行需要{qty}盒，请扫描新的药盒。",
                          details={"code": code, "remaining": str(ONE - used), "needed": str(qty)})


def _line_for(scan: Scan, lines: list[SaleLine], entries: dict[str, dict[str, Any]], counts: dict[int, int],
              line_no: int | None) -> tuple[SaleLine, bool]:
    """The line this pack goes on, and whether its drug was checked from the code. A pack is checked against the
    drug's product prefixes and GTINs from the province's list (or the chain's product data). Not checked, and
    taken on the line named (else the line still waiting for packs): a manufacturer's own code whose prefix the
    list does not give, and any pack for a drug the list gives no prefix or GTIN for — unless the pack is
    another line's drug. The code goes out with the sale either way, and the traceability platform checks it."""
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
        if matches(line):
            return line, True
        if scan.kind == "other_code" or (not known(line) and not any(matches(ln) for ln in lines)):
            return line, False
        raise _mismatch(scan, line)
    candidates = [ln for ln in lines if matches(ln)]
    if not candidates:
        waiting = [ln for ln in lines if counts.get(ln.line_no, 0) < ln.packs_needed]
        if scan.kind == "other_code" and len(waiting) == 1:
            return waiting[0], False
        unchecked = [ln for ln in lines if not known(ln)]
        if not unchecked:
            raise _mismatch(scan, None)
        return next((ln for ln in unchecked if ln in waiting), unchecked[-1]), False
    # Fill lines in order: the first matching line that still needs packs, else the last match (count check later).
    for line in candidates:
        if counts.get(line.line_no, 0) < line.packs_needed:
            return line, True
    return candidates[-1], True


def _mismatch(scan: Scan, line: SaleLine | None) -> TraceCodeError:
    target = f"line {line.line_no} ({line.generic_name})" if line else "any line of this sale"
    where = f"第{line.line_no}行" if line else "本单任何药品"
    return TraceCodeError("TRACE_CODE_PRODUCT_MISMATCH",
                          message=f"Pack {scan.code} does not belong to {target}.",
                          message_zh=f"追溯码{scan.code}对应的药品与{where}不一致，请扫描正确药品的药盒。",
                          details={"code": scan.code, "line_no": line.line_no if line else None})


def add_codes(codes: TraceCodesTable, conn: Connection, sale_id: str, raws: Iterable[str], *,
              lines: list[SaleLine], entries: dict[str, dict[str, Any]], rules: ScanRules, today: date,
              line_no: int | None = None, distinct_from: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Attach scanned packs to a sale's lines inside the caller's transaction; all or nothing. Returns
    ``[{code, line_no, kind, warnings}]`` for the packs added (``warnings``: scan hints such as ``other_code``).
    ``distinct_from``: sales the pharmacist confirmed hold another box whose code differs only by letter case."""
    existing = codes.for_sale(sale_id, conn, held_only=True)
    counts: dict[int, int] = {}
    seen = {c.code.upper() for c in existing}   # a Caps Lock rescan of a pack already on this sale is a duplicate
    for c in existing:
        counts[c.line_no] = counts.get(c.line_no, 0) + 1
    confirmed = frozenset(distinct_from)
    added = []
    for raw in raws:
        scan = parse_pack(raw, rules=rules, today=today)
        code = scan.code or ""   # parse_pack refuses a scan without a pack identity
        if code.upper() in seen:
            raise TraceCodeError("TRACE_CODE_DUPLICATE", details={"code": code})
        seen.add(code.upper())
        line, checked = _line_for(scan, lines, entries, counts, line_no)
        qty = line.qty if line.trdn else ONE
        _refuse_if_held(codes, conn, code, sale_id, line.trdn, qty)
        _refuse_case_twin(codes, conn, code, sale_id, confirmed)
        try:
            codes.add(conn, sale_id=sale_id, line_no=line.line_no, code=code, raw=raw, kind=scan.kind,
                      expiry=scan.expiry, trdn=line.trdn, qty=qty)
        except sqlite3.IntegrityError:
            raise TraceCodeError("TRACE_CODE_ALREADY_SOLD", details={"code": code}) from None
        counts[line.line_no] = counts.get(line.line_no, 0) + 1
        # the drug was not checked from the code: say why (a manufacturer's own code, or no prefix in the list)
        warnings = [] if checked else [h.to_dict() for h in scan.hints] or [hint("product_unchecked").to_dict()]
        added.append({"code": code, "line_no": line.line_no, "kind": scan.kind, "warnings": warnings})
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
