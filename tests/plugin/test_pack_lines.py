"""Which line a scanned pack goes to (plugin/packs.py): checked against the drug's product prefixes and GTINs where
the store has them, taken on trust by a drug it has none for (the traceability platform checks the code later)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from plugin.errors import TraceCodeError
from plugin.packs import _line_for, parse_pack
from plugin.tracecode import ScanRules
from plugin.sale import SaleLine

KNOWN = {"trace_prefixes": ["8690701"], "gtins": []}
BLANK: dict = {}


def line(no: int, code: str) -> SaleLine:
    return SaleLine(line_no=no, med_list_codg=code, generic_name=code, drug_name=code, spec="", category="A",
                    qty=Decimal("1"), price=Decimal("1"), payment_standard=Decimal("1"), line_total=Decimal("1"),
                    donated=False, trdn=False, eligible=True, reasons=())


def scan(code: str):
    return parse_pack(code, rules=ScanRules(product_prefix_len=7), today=date(2026, 11, 29))


LINES = [line(1, "KNOWN"), line(2, "BLANK")]
ENTRIES = {"KNOWN": KNOWN, "BLANK": BLANK}


def test_a_pack_of_the_known_drug_goes_to_its_line_checked():
    line, checked = _line_for(scan("86907010000000000011"), LINES, ENTRIES, {}, None)
    assert (line.line_no, checked) == (1, True)


def test_a_pack_matching_no_known_drug_goes_unchecked_to_the_drug_without_product_data():
    for named in (None, 2):
        line, checked = _line_for(scan("81234560000000000011"), LINES, ENTRIES, {}, named)
        assert (line.line_no, checked) == (2, False)


def test_a_known_drugs_pack_named_for_the_blank_line_is_refused_as_another_drugs():
    with pytest.raises(TraceCodeError) as err:
        _line_for(scan("86907010000000000011"), LINES, ENTRIES, {}, 2)
    assert err.value.code == "TRACE_CODE_PRODUCT_MISMATCH"


def test_a_foreign_pack_named_for_the_known_line_is_refused():
    with pytest.raises(TraceCodeError) as err:
        _line_for(scan("81234560000000000011"), LINES, ENTRIES, {}, 1)
    assert err.value.code == "TRACE_CODE_PRODUCT_MISMATCH"


def test_with_every_drug_checkable_a_foreign_pack_is_refused():
    with pytest.raises(TraceCodeError):
        _line_for(scan("81234560000000000011"), [line(1, "KNOWN")], ENTRIES, {}, None)
