"""Scan classification: every pack is traced (赣医保发〔2022〕2号 §三(五) 流程可追溯; 吉医保发〔2023〕29号 §四(三)
定机构、定医师、可追溯; 医保函〔2021〕182号 §六), so a broken scan must be refused with a reason, never guessed at.

Formats: docs/gateway.md "Drug traceability codes"; answer shape: docs/pos-integration.md "Scan answer".
"""
from __future__ import annotations

import json
from datetime import date

import pytest

from plugin.errors import InvalidInput, RxlaneError
from plugin.tracecode import MAX_SCAN_LENGTH, Scan, ScanError, check_expiry, classify, product_matches

DOMESTIC = "81234567890123456789"
GTIN = "06901234567892"  # GS1 China prefix 690, valid check digit 2
GS = "\x1d"
PACK = f"01{GTIN}17250600" f"10B2406A{GS}21SN0000123456"


# --- domestic traceability codes (码上放心: 20 digits from 8) ----------------------------------------------------

@pytest.mark.parametrize("raw", [
    DOMESTIC,
    DOMESTIC + "\r\n",               # keyboard-wedge suffix
    DOMESTIC + "\n",
    "  " + DOMESTIC + "\t",
    "]C0" + DOMESTIC,                # Code 128 AIM prefix
    "]d1" + DOMESTIC + "\r\n",       # DataMatrix (ECC 200) AIM prefix
    "]Q1" + DOMESTIC,
    "８１２３４５６７８９０１２３４５６７８９",  # Chinese IME left in full-width mode
    GS + DOMESTIC,
    "8123 4567 8901 2345 6789",      # typed by hand from the grouped print on the box
    "81234-56789-01234-56789\r\n",
])
def test_domestic_code_is_a_trace_code_whatever_the_scanner_wraps_it_in(raw):
    scan = classify(raw)
    assert scan.kind == "trace_code"
    assert scan.code == DOMESTIC and scan.cleaned == DOMESTIC
    assert scan.to_dict() == {"kind": "trace_code", "raw_length": len(raw), "code": DOMESTIC,
                              "product_prefix": "8123456"}


def test_product_prefix_length_is_a_setting():
    assert classify(DOMESTIC, product_prefix_len=9).fields["product_prefix"] == "812345678"
    assert classify("]C0" + DOMESTIC, product_prefix_len=5).fields["product_prefix"] == "81234"


@pytest.mark.parametrize("raw, fault, en, zh", [
    (DOMESTIC[:19], "length", "has 20 digits; got 19", "追溯码应为20位数字，实际为19位"),
    (DOMESTIC + "0", "length", "has 20 digits; got 21", "追溯码应为20位数字，实际为21位"),
    ("]C0" + DOMESTIC[:19] + "\r\n", "length", "got 19", "实际为19位"),
    ("7" + DOMESTIC[1:], "prefix", "begins with 8; this one begins with 7", "追溯码应以8开头，实际以7开头"),
    ("8123456789O123456789", "non_digit", "'O' at position 11", "第11位是“O”"),   # letter O for zero
    ("81234567890123456789".replace("9", "("), "non_digit", "'(' at position 10", "第10位"),  # shift held down
    (DOMESTIC + DOMESTIC, "two_codes", "Two traceability codes ran together", "两个追溯码连在一起"),
])
def test_broken_domestic_code_is_refused_saying_what_is_wrong(raw, fault, en, zh):
    with pytest.raises(ScanError) as caught:
        classify(raw)
    err = caught.value
    assert isinstance(err, RxlaneError) and err.code == "TRACE_CODE_INVALID" and err.http_status == 400
    assert err.details["fault"] == fault
    assert en in err.message and zh in err.message_zh


# --- GS1 element strings --------------------------------------------------------------------------------------------

EXPECTED_PACK = {"kind": "gs1", "gtin": GTIN, "expiry": "2025-06-30", "lot": "B2406A", "serial": "SN0000123456",
                 "code": f"01{GTIN}21SN0000123456"}


@pytest.mark.parametrize("raw", [
    PACK,
    "]d2" + PACK,                                   # GS1 DataMatrix
    "]d2" + PACK + "\r\n",
    "]Q3" + PACK,                                   # GS1 QR
    "]C1" + PACK,                                   # GS1-128
    GS + PACK,                                      # FNC1 in first position sent as GS
    f"(01){GTIN}(17)250600(10)B2406A(21)SN0000123456",
    f"(01) {GTIN} (17) 250600 (10) B2406A (21) SN0000123456",  # HRI as printed, with spaces
    f"01{GTIN}21SN0000123456{GS}17250600" f"10B2406A",           # serial first, lot last (no trailing GS)
    f"01{GTIN}17250600" f"10B2406A{GS}21SN0000123456{GS}",      # trailing GS is harmless
])
def test_gs1_pack_parses_in_every_form_scanners_send(raw):
    scan = classify(raw)
    answer = scan.to_dict()
    assert answer.pop("raw_length") == len(raw)
    assert answer == EXPECTED_PACK
    assert scan.gtin == GTIN and scan.expiry == date(2025, 6, 30) and scan.code == EXPECTED_PACK["code"]


@pytest.mark.parametrize("yymmdd, expiry", [
    ("250600", date(2025, 6, 30)),   # day 00 = last day of the month
    ("240200", date(2024, 2, 29)),   # … including a leap February
    ("250200", date(2025, 2, 28)),
    ("271231", date(2027, 12, 31)),
    ("300115", date(2030, 1, 15)),
])
def test_gs1_expiry_day_00_means_the_last_day_of_the_month(yymmdd, expiry):
    assert classify(f"]d201{GTIN}17{yymmdd}21S1").expiry == expiry


def test_gs1_without_serial_is_gs1_but_cannot_identify_one_pack():
    scan = classify(f"]d201{GTIN}17250600" "10B2406A")
    assert scan.kind == "gs1" and scan.code is None and scan.fields["serial"] is None
    assert scan.to_dict()["code"] is None


def test_gs1_tolerates_other_application_identifiers():
    scan = classify(f"]d201{GTIN}11240115" f"17260114" f"30{GS}21XYZ123{GS}10L1")  # production date, count
    assert (scan.expiry, scan.fields["lot"], scan.fields["serial"]) == (date(2026, 1, 14), "L1", "XYZ123")


def test_only_lot_and_serial_are_suspected_of_swallowing_a_field():
    scan = classify(f"]d201{GTIN}10B1{GS}305215")   # a count of 5215 holds "21" + "5" and is still a count
    assert scan.kind == "gs1" and scan.fields["lot"] == "B1" and scan.code is None


def test_gs1_without_expiry_has_null_expiry():
    scan = classify(f"01{GTIN}21ABC")
    assert scan.expiry is None and scan.to_dict()["expiry"] is None and scan.code == f"01{GTIN}21ABC"


@pytest.mark.parametrize("raw, fault, en, zh", [
    (f"]d20106901234567891" f"17250600" f"10B2406A{GS}21SN1", "check_digit",
     "GTIN (AI 01) '06901234567891' has a wrong check digit: expected 2, got 1", "校验位错误：应为2，实际为1"),
    ("(01)06901234567893(21)SN1", "check_digit", "expected 2, got 3", "校验位错误"),
    (f"]d201{GTIN}17250230" f"21SN1", "date", "expiry date (AI 17) '250230' is not a real date", "不是有效日期"),
    (f"]d201{GTIN}17251301" f"21SN1", "date", "'251301' is not a real date", "“251301”不是有效日期"),
    (f"]d201{GTIN}17250000" f"21SN1", "date", "'250000' is not a real date", "不是有效日期"),
    (f"(01){GTIN}(17)250231(21)SN1", "date", "'250231' is not a real date", "不是有效日期"),
    # a lost separator after the lot: the lot swallows the serial (still ≤ 20 characters) …
    (f"]d201{GTIN}17250600" f"10B2406A21SN0000123", "separator",
     "lot (AI 10) seems to contain the serial number (AI 21): a separator (FNC1/GS) is missing",
     "批号（AI 10）似乎包含了序列号（AI 21）：缺少分隔符"),
    # … or the serial swallows the lot …
    (f"]d201{GTIN}21SN00001234" f"10B2406A", "separator", "serial number (AI 21) seems to contain the lot",
     "序列号（AI 21）似乎包含了批号"),
    # … or the lot runs past its 20-character maximum into the next field
    (f"]d201{GTIN}10B2406A0000000000000000" f"21SN1", "separator", "lot (AI 10) runs into the next field",
     "与后一字段连在一起"),
    (f"]d201{GTIN}10B24ä06", "character", "contains a character GS1 does not allow", "GS1不允许的字符"),
    ("]d20106901234", "malformed", "GTIN (AI 01) is malformed", "格式不正确"),
    ("]d2hello", "unknown_ai", "no known application identifier", "不是有效的应用标识符"),
    (f"]d201{GTIN}21A{GS}21B", "duplicate", "appears twice", "出现两次"),
])
def test_broken_gs1_is_refused_naming_the_fault(raw, fault, en, zh):
    with pytest.raises(ScanError) as caught:
        classify(raw)
    err = caught.value
    assert err.code == "TRACE_CODE_INVALID" and err.details["fault"] == fault
    assert en in err.message and zh in err.message_zh


# --- patients and prescriptions -------------------------------------------------------------------------------

CERT_NO = "11010519491231002X"   # the well-known valid specimen


def test_id_number_typed_in_groups_is_compacted():
    scan = classify("110105 19491231 002X")
    assert scan.kind == "id_card" and scan.cert_no == CERT_NO and scan.fields["valid_checksum"]


@pytest.mark.parametrize("raw, valid", [(CERT_NO, True), (CERT_NO.lower(), True), ("110105194912310021", False),
                                        ("810000199001011234", False)])  # 港澳居民居住证 numbers begin 81
def test_id_number_is_masked_and_its_checksum_reported(raw, valid):
    scan = classify(raw + "\r\n")
    assert scan.kind == "id_card" and scan.cert_no == raw.upper()
    assert scan.to_dict() == {"kind": "id_card", "raw_length": len(raw) + 2,
                              "masked": raw.upper()[:4] + "*" * 10 + raw.upper()[-4:], "valid_checksum": valid}
    assert scan.code is None


@pytest.mark.parametrize("raw, token", [
    ("ECARD3601A1B2C3D4E5F6", "ECARD3601A1B2C3D4E5F6"),
    ("]Q1ECARD3601A1B2C3D4E5F6A7B8C9D0", "ECARD3601A1B2C3D4E5F6A7B8C9D0"),
    ("https://card.wecity.qq.com/nhsa?qrcode=36010000abcdef0123456789&from=pos", "36010000abcdef0123456789"),
    ("https://ecard.example.gov.cn/verify?ecToken=Zm9vYmFyYmF6cXV4%2B%2F%3D%3D", "Zm9vYmFyYmF6cXV4+/=="),
    ("HTTPS://EXAMPLE.CN/A?X=1&QRCODE=TOKEN12345678", "TOKEN12345678"),
    ("https://h5.example.cn/#/ecard/verify?qrcode=HASHROUTE0001234", "HASHROUTE0001234"),   # app route after '#'
    ("https://e.example.cn/?ecToken=AB%00CD12345678", "AB%00CD12345678"),   # never decoded into a control char
    ("4260173956810000000001360102", "4260173956810000000001360102"),   # the national QR value: 28 digits
])
def test_e_voucher_payloads_yield_the_token_masked(raw, token):
    scan = classify(raw)
    assert scan.kind == "ecard" and scan.token == token
    assert scan.to_dict() == {"kind": "ecard", "raw_length": len(raw), "token_masked": token[:4] + "*" * (
        len(token) - 8) + token[-4:]}


@pytest.mark.parametrize("raw, card_no, masked", [
    ("A12345678", "A12345678", "A12****78"),
    ("b87654321\r\n", "B87654321", "B87****21"),
    ("SS1234567890", "SS1234567890", "SS1*******90"),
])
def test_social_security_card_number_is_masked(raw, card_no, masked):
    scan = classify(raw)
    assert scan.kind == "ss_card" and scan.card_no == card_no
    assert scan.to_dict() == {"kind": "ss_card", "raw_length": len(raw), "masked": masked}


@pytest.mark.parametrize("raw", ["RX2024061500001", "RX20240615ABCDEF0001", "3601002024061500000000017",
                                 "360100202406150000000001712345"])
def test_prescription_numbers(raw):
    assert classify(raw).to_dict() == {"kind": "prescription", "raw_length": len(raw), "hi_rxno": raw}


@pytest.mark.parametrize("raw", ["", "   \r\n", "hello", "6901234567892",   # the pack's EAN-13, not its trace code
                                 "RX123", "ECARD123", "1234", "8" * 30, "(hello)", "https://example.cn/?q=1",
                                 "81234567890123456789012345678", "\ud800\udfff", "药品"])
def test_anything_else_is_unknown_with_no_fields(raw):
    scan = classify(raw)
    assert scan.to_dict() == {"kind": "unknown", "raw_length": len(raw)}
    assert scan.code is None


# --- input that is not a scan at all ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["8123456789\x00123456789", "\x1b[A", "ECARD3601A1B2C3D4E5F6\x7f", "abc\x85"])
def test_control_characters_are_invalid_input_on_field_raw(raw):
    with pytest.raises(InvalidInput) as caught:
        classify(raw)
    assert caught.value.details["field"] == "raw" and caught.value.http_status == 400


def test_a_megabyte_is_refused_before_parsing():
    with pytest.raises(InvalidInput) as caught:
        classify("8" * 1_000_000)
    assert caught.value.details == {"field": "raw", "length": 1_000_000}
    classify("x" * MAX_SCAN_LENGTH)   # the limit itself is allowed
    with pytest.raises(InvalidInput):
        classify(" " * (MAX_SCAN_LENGTH + 1))


def test_non_text_is_invalid_input():
    with pytest.raises(InvalidInput):
        classify(b"81234567890123456789")  # type: ignore[arg-type]


# --- privacy ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, secret", [(CERT_NO, CERT_NO), ("A12345678", "A12345678"),
                                         ("ECARD3601A1B2C3D4E5F6", "ECARD3601A1B2C3D4E5F6"),
                                         ("https://x.cn/q?qrcode=SECRETTOKEN0001", "SECRETTOKEN0001")])
def test_neither_answer_nor_repr_reveals_the_person(raw, secret):
    scan = classify(raw)
    assert secret not in json.dumps(scan.to_dict()) and secret not in repr(scan)
    assert secret in scan.cleaned   # the service still has it to identify the patient


# --- product match and expiry ------------------------------------------------------------------------------------

def test_domestic_pack_matches_by_trace_prefix():
    scan = classify(DOMESTIC)
    assert product_matches(scan, trace_prefixes=["8123456"], gtins=[])
    assert product_matches(scan, trace_prefixes=["8999999", "81234"], gtins=[GTIN])
    assert not product_matches(scan, trace_prefixes=["8123457"], gtins=[])


def test_blank_prefix_in_the_catalogue_matches_nothing():
    assert not product_matches(classify(DOMESTIC), trace_prefixes=[""], gtins=[])


@pytest.mark.parametrize("gtin", [GTIN, GTIN[1:], " 6901234567892 "])
def test_gs1_pack_matches_by_gtin_in_any_length(gtin):
    assert product_matches(classify(PACK), trace_prefixes=["8123456"], gtins=[gtin])


def test_gs1_pack_with_another_gtin_does_not_match():
    scan = classify(PACK)
    assert not product_matches(scan, trace_prefixes=[], gtins=["6901234567885", "not-a-gtin", ""])
    assert not product_matches(scan, trace_prefixes=["0"], gtins=[])   # GS1 packs never match by prefix


def test_gtin12_and_gtin8_in_catalogue_are_padded_to_gtin14():
    upc = "036000291452"              # GTIN-12
    ean8 = "96385074"                 # GTIN-8
    assert product_matches(classify(f"01{upc.zfill(14)}21S1"), trace_prefixes=[], gtins=[upc])
    assert product_matches(classify(f"01{ean8.zfill(14)}21S1"), trace_prefixes=[], gtins=[ean8])


def test_non_pack_scans_match_no_product():
    assert not product_matches(classify(CERT_NO), trace_prefixes=["1101"], gtins=[])


def test_expired_gs1_pack_is_refused_with_its_expiry():
    scan = classify(PACK)   # expires 2025-06-30
    check_expiry(scan, date(2025, 6, 30))   # sellable on its last day
    with pytest.raises(RxlaneError) as caught:
        check_expiry(scan, date(2025, 7, 1))
    err = caught.value
    assert err.code == "TRACE_CODE_EXPIRED" and err.http_status == 422
    assert err.details == {"expiry": "2025-06-30"} and "2025-06-30" in err.message_zh


def test_domestic_code_carries_no_expiry_to_check():
    check_expiry(classify(DOMESTIC), date(2099, 1, 1))


def test_scan_is_a_frozen_value():
    scan = classify(PACK)
    with pytest.raises(AttributeError):
        scan.code = "x"  # type: ignore[misc]
    assert scan == classify(PACK) and hash(scan) == hash(classify(PACK)) and isinstance(scan, Scan)
