"""The demo books (adapters/sandbox/data/demo.json) are realistic and stay valid whatever the date."""
import json
import re
from datetime import datetime

from stdnum import ean
from stdnum.cn import ric

from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.books import Books
from adapters.sandbox.demo import DEMO_FILE, load_demo, resolve_dates

RAW = json.loads(DEMO_FILE.read_text(encoding="utf-8"))


def test_every_demo_id_number_has_a_valid_checksum():
    for person in RAW["persons"]:
        assert ric.is_valid(person["certno"]), person["certno"]


def test_demo_tokens_and_cards_have_the_documented_formats():
    for person in RAW["persons"]:
        assert re.fullmatch(r"ECARD[0-9A-Z]{16}", person["ecard_token"])
        assert re.fullmatch(r"[A-Z]\d{8}", person["card_no"]) and person["card_sn"]


def test_demo_covers_the_documented_patients():
    people = RAW["persons"]
    assert len(people) >= 5
    assert any(p["insutype"] == "310" and p["insuplc_admdvs"].startswith("36") for p in people)
    assert any(p["insutype"] == "390" for p in people)
    assert any(not p["insuplc_admdvs"].startswith("36") for p in people)
    filed = {f["psn_no"] for f in RAW["filings"]}
    assert any(p["psn_no"] not in filed for p in people)
    assert any(p["balc"] == "50.00" for p in people)
    cross = [f for f in RAW["filings"] if f["psn_no"].startswith("42")]
    assert {f.get("cross_region_approved", False) for f in cross} == {True, False}


def test_demo_catalog_has_six_drugs_in_classes_a_b_c_with_valid_gtins_and_trace_prefixes():
    assert len(RAW["catalog"]) == 6
    assert {d["category"] for d in RAW["catalog"]} == {"A", "B", "C"}
    for drug in RAW["catalog"]:
        assert all(re.fullmatch(r"8\d{6}", p) for p in drug["trace_prefixes"])
        assert all(ean.is_valid(g) for g in drug["gtins"])


def test_relative_dates_resolve_against_the_books_clock():
    books = Books(resolve_policy("jiangxi"), clock=lambda: datetime(2031, 2, 27, 8, 0))
    assert resolve_dates(["today", "today-3", "today+365", "today-2 09:30"], books) == [
        "2031-02-27", "2031-02-24", "2032-02-27", "2031-02-25 09:30:00"]


def test_prescriptions_in_every_status_on_any_date():
    for now in (datetime(2024, 1, 1, 23, 0), datetime(2030, 7, 15, 12, 0)):
        books = Books(resolve_policy("jiangxi"), clock=lambda now=now: now)
        load_demo(books)
        statuses = {p["status"] for p in books.ledger()["prescriptions"]}
        assert statuses == {"valid", "dispensed", "revoked", "expired"}
