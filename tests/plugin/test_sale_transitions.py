"""The sale state machine is one table (plugin/sale.py TRANSITIONS): every (state, event) pair is either a move of
the table — applied by the ledger exactly so — or refused, with SETTLEMENT_IN_DOUBT while money may be moving."""
import itertools
import re
from decimal import Decimal
from pathlib import Path

import pytest

from plugin.errors import InvalidState, SettlementInDoubt
from plugin.sale import (PREVIOUS, TRANSITIONS, UNSETTLED_MONEY, SaleEvent, SaleLine, SaleState, mermaid,
                         transition)
from plugin.store import Ledger

REPO = Path(__file__).resolve().parents[2]
PAIRS = list(itertools.product(SaleState, SaleEvent))


def _ledger_with_sale(tmp_path, state: SaleState) -> Ledger:
    led = Ledger(tmp_path / "l.sqlite3")
    with led.transaction() as c:
        led.sales.insert(c, sale_id="S1", biz_date="2026-11-29", patient_ref="P1", psn_no="psn", insutype="310",
                         hi_rxno=None, rx=None, acct_used=True, confirm_selfpay=False, medfee_sumamt=Decimal("1.00"),
                         lines=[SaleLine(1, "X", "g", "d", "s", "A", Decimal(1), Decimal(1), Decimal(1), Decimal(1),
                                         False, False, True, ())])
        c.execute("UPDATE sales SET state = ? WHERE id = 'S1'", (state.value,))   # the test puts it anywhere
    return led


@pytest.mark.parametrize("state, event", PAIRS, ids=[f"{s.value}-{e.value}" for s, e in PAIRS])
def test_every_state_and_event_pair_moves_by_the_table_or_is_refused(tmp_path, state, event):
    led = _ledger_with_sale(tmp_path, state)
    target = TRANSITIONS.get((state, event))
    with led.transaction() as c:
        if target is None:
            expected = SettlementInDoubt if state in UNSETTLED_MONEY else InvalidState
            with pytest.raises(expected):
                led.sales.move(c, "S1", event)
        else:
            previous = SaleState.PRESETTLED if target is PREVIOUS else None
            moved = led.sales.move(c, "S1", event, previous=previous)
            assert moved == (previous if target is PREVIOUS else target)
    assert led.sales.get("S1").state == (state if target is None else moved)


def test_a_failed_settlement_attempt_returns_where_the_sale_was():
    for before in (SaleState.DRAFT, SaleState.PRESETTLED, SaleState.REVERSED):
        assert transition(SaleState.SETTLING, SaleEvent.SETTLE_FAILED, previous=before) is before


def test_no_state_is_a_dead_end_except_the_two_final_ones():
    leaving = {s for (s, _), t in TRANSITIONS.items() if t is not s}
    assert set(SaleState) - leaving == {SaleState.REFUNDED, SaleState.CANCELLED}


def test_the_architecture_document_shows_the_diagram_drawn_from_the_table():
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert mermaid() in doc, "regenerate: python -c 'from plugin.sale import mermaid; print(mermaid())'"


_SQL_WRITE = re.compile(r"""["'][^"'\n]*\b(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"""
                        r"""CREATE\s+(TABLE|INDEX|TRIGGER)|ALTER\s+TABLE|SELECT\s+.+\s+FROM)\b""", re.IGNORECASE)


def test_only_the_store_package_holds_sql():
    """The counter's ledger: every query in plugin/store. (Chain HQ's own database, plugin/hq, keeps one module per
    table of its own.)"""
    offenders = []
    for path in sorted((REPO / "plugin").rglob("*.py")):
        if {"store", "hq"} & set(path.relative_to(REPO / "plugin").parts):
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _SQL_WRITE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{no}: {line.strip()[:80]}")
    assert not offenders, "SQL outside plugin/store:\n" + "\n".join(offenders)
