"""The demo books (adapters/sandbox/data/demo.json) are realistic, in the gateway's shapes, and stay valid whatever the
date; the demo dual-channel list (data/dual-channel-list.csv) imports through rxlane's own list reader and states the
same category, payment standard and agreement dates the sandbox insurer adjudicates with."""
import json
import re
from datetime import date, datetime

from stdnum import ean
from stdnum.cn import ric

from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.books import Books
from adapters.sandbox.demo import DEMO_FILE, demo_list_csv, load_demo, resolve_dates
from plugin.dclist.columns import Mapping
from plugin.dclist.install import read_province_file

RAW = json.loads(DEMO_FILE.read_text(encoding="utf-8"))


def test_every_demo_id_number_has_a_valid_checksum():
    for person in RAW["persons"]:
        assert ric.is_valid(person["baseinfo"]["certno"]), person["baseinfo"]["certno"]


def test_demo_persons_carry_qr_values_not_tokens():
    for person in RAW["persons"]:
        assert re.fullmatch(r"\d{28}", person["ecard_qr"]) and person["ecard_qr"].endswith(
            person["insuinfo"][0]["insuplc_admdvs"])
        assert "ec_token" not in person and "ecard_token" not in person
        assert re.fullmatch(r"[A-Z]\d{8}", person["card_no"]) and person["card_sn"]


def test_demo_covers_the_documented_patients():
    people = RAW["persons"]
    rows = [p["insuinfo"][0] for p in people]
    assert len(people) == 6 and {r["insutype"] for r in rows} == {"310", "390"}
    assert any(not r["insuplc_admdvs"].startswith("36") for r in rows)
    filed = {f["psn_no"] for f in RAW["filings"]}
    assert any(p["baseinfo"]["psn_no"] not in filed for p in people)
    assert any(r["balc"] == "50.00" for r in rows)
    cross = [f for f in RAW["filings"] if f["psn_no"].startswith("42")]
    assert {f.get("cross_region_approved", False) for f in cross} == {True, False}
    assert all(re.fullmatch(r"M\d{5}", f["opsp_dise_code"]) and f["opsp_dise_name"] for f in RAW["filings"])


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


def test_the_demo_list_imports_and_equals_the_insurers_adjudication_facts():
    today = date(2030, 7, 15)
    imported = read_province_file(demo_list_csv(today), "dual-channel-list.csv", mapping=Mapping(),
                                  categories=("A", "B", "C")).list
    books = Books(resolve_policy("jiangxi"), clock=lambda: datetime(2030, 7, 15, 9, 0))
    load_demo(books)
    entries = {e.med_list_codg: e for e in imported.entries}
    assert set(entries) == set(books.catalog)
    for code, record in books.catalog.items():
        listed, insurer = entries[code], record.entry
        assert (listed.category, listed.payment_standard) == (insurer.category, insurer.payment_standard)
        assert (listed.agreement_end, listed.transition_end) == (insurer.agreement_end, insurer.transition_end)
        assert listed.agreement_start.isoformat() == record.row["begndate"]
        assert (listed.generic_name, listed.trace_prefixes, listed.gtins) == (
            insurer.generic_name, insurer.trace_prefixes, insurer.gtins)
        assert listed.split_units == insurer.split_units
