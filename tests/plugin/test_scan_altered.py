"""Scans that reach rxlane altered on the way (issue 19; plugin/scanhints.py): Caps Lock, GS1 separator stand-ins,
input methods, fragments, other kinds of code. Each is read as what it is, or refused saying what to do — and an
altered credential is never handed on to identify anyone.

GS1 formats: docs/gateway.md "Drug traceability codes"; the scan answer: docs/pos-integration.md.
"""
from __future__ import annotations

import pytest

from plugin.config import load_settings
from plugin.errors import InvalidInput
from plugin.scanhints import id_number_plausible, usable_standin
from plugin.tracecode import ScanError, ScanRules, classify

GTIN = "06901234567014"
GS = "\x1d"


def hints(raw: str, **kw) -> list[str]:
    return [h.code for h in classify(raw, **kw).hints]


# --- Caps Lock ----------------------------------------------------------------------------------------------------

def test_caps_lock_swaps_a_gs1_serial_into_another_valid_serial():
    """The issue's example: the same box, once normally and once with Caps Lock, parses into two serials; the pack
    ledger must tell them apart only by case (tests/e2e/test_packs_altered.py)."""
    normal = classify(f"]d201{GTIN}17281231" "10LotAb7" f"{GS}21SnQ5")
    caps = classify(f"01{GTIN}17281231" "10lOTaB7" f"{GS}21sNq5")
    assert (normal.code, caps.code) == (f"01{GTIN}21SnQ5", f"01{GTIN}21sNq5")
    assert normal.code.upper() == caps.code.upper()


def test_a_case_swapped_aim_identifier_is_refused_as_caps_lock():
    with pytest.raises(ScanError) as caught:
        classify(f"]D201{GTIN}17281231" "10lOTaB7" f"{GS}21sNq5")
    err = caught.value
    assert err.details["fault"] == "caps_lock" and "大写锁定" in err.message_zh and "Caps Lock" in err.message


@pytest.mark.parametrize("raw, token", [
    ("HTTPS://CARD.EXAMPLE.CN/NHSA?QRCODE=ECARD7K2M9Q4T1X8B3N6Q", "ECARD7K2M9Q4T1X8B3N6Q"),
    ("ecard7k2m9q4t1x8b3n6q", "ecard7k2m9q4t1x8b3n6q"),
])
def test_an_upper_case_or_swapped_e_voucher_is_an_e_voucher_with_a_caps_lock_hint(raw, token):
    scan = classify(raw)
    assert scan.kind == "ecard" and scan.token == token
    assert hints(raw) == ["caps_lock"]


def test_a_normal_e_voucher_has_no_hint():
    assert hints("https://card.example.cn/nhsa?qrcode=ECARD7K2M9Q4T1X8B3N6Q") == []
    assert hints("ECARD7K2M9Q4T1X8B3N6Q") == []


# --- GS1 separator stand-ins --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "01069012345670141728123110LOT123|21SER456",          # the example
    "01069012345670141728123110LOT123\u241d21SER456",     # U+241D, the picture of GS
    "|01069012345670141728123110LOT123|21SER456|",        # a leading stand-in is FNC1, a trailing one nothing
    "]d201069012345670141728123110LOT123|21SER456",
])
def test_configured_separator_stand_ins_are_read_as_gs(raw):
    scan = classify(raw)
    assert (scan.kind, scan.fields["lot"], scan.fields["serial"], scan.code) == (
        "gs1", "LOT123", "SER456", f"01{GTIN}21SER456")


def test_a_stand_in_that_is_not_configured_stays_an_illegal_character():
    with pytest.raises(ScanError) as caught:
        classify("01069012345670141728123110LOT123|21SER456", gs_standins=())
    assert caught.value.details["fault"] == "character"
    assert classify("01069012345670141728123110LOT123~21SER456", gs_standins=("~",)).fields["serial"] == "SER456"


def test_a_stand_in_outside_gs1_text_is_left_alone():
    assert classify("A|B").kind == "unknown"
    assert classify("ECARD7K2M9Q4T1X8B3N6Q").kind == "ecard"


def test_a_truly_lost_separator_says_what_to_configure_on_the_scanner():
    with pytest.raises(ScanError) as caught:
        classify("01069012345670141728123110LOT12321SER456", gs_standins=("^",))
    err = caught.value
    assert err.details["fault"] == "separator" and err.details["advice"] == "configure_scanner"
    assert "a separator (FNC1/GS) is missing" in err.message and "set the scanner to send GS" in err.message
    assert "'^'" in err.message and "scanning.gs_standins" in err.message
    assert "缺少分隔符" in err.message_zh and "请将扫码枪设置为发送GS分隔符" in err.message_zh
    assert "重新扫描结果相同" in err.message_zh


@pytest.mark.parametrize("ch, ok", [("|", True), ("\u241d", True), ("~", True), ("^", True), ("A", False),
                                    ("%", False), (" ", False), ("||", False), ("", False), ("\x1d", False)])
def test_a_stand_in_must_be_one_character_gs1_data_never_holds(ch, ok):
    assert usable_standin(ch) is ok


def test_the_stand_ins_are_a_setting_and_a_bad_one_is_refused():
    assert load_settings(None, environ={}).scanning.gs_standins == ["|", "\u241d"]
    with pytest.raises(InvalidInput) as caught:
        load_settings(None, environ={}, overrides={"scanning": {"gs_standins": ["A"]}})
    assert "scanning.gs_standins" in caught.value.details["field"]


# --- input methods and fragments -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["0106901234567014172812311了LotAb7", "ECARD7K2M9Q4T1X8B3N6Q输入", "张伟"])
def test_ideographs_in_a_scan_are_an_input_method_hint_not_a_code(raw):
    scan = classify(raw)
    assert scan.kind == "unknown" and scan.code is None
    assert hints(raw) == ["input_method"]
    assert "输入法" in scan.hints[0].message_zh


@pytest.mark.parametrize("raw, plausible", [
    ("360121196805122010", True),
    ("36012219550923102x", True),       # lower-case check character: the same number
    ("360121196805122011", False),      # check digit wrong
    ("869070100000000000", False),      # 18 digits cut from a traceability code: no birth date
    ("360121196813322017", False),      # month 13
])
def test_an_id_number_that_fails_its_check_is_flagged_so_it_is_never_looked_up(raw, plausible):
    assert id_number_plausible(raw.upper()) is plausible
    scan = classify(raw)
    assert scan.kind == "id_card"
    assert ("id_number_invalid" in hints(raw)) is (not plausible)


def test_a_card_number_without_its_card_code_carries_the_card_reader_hint():
    scan = classify("A36010201")
    assert scan.kind == "ss_card" and [h.code for h in scan.hints] == ["card_sn_needed"]
    assert "社保卡需读卡器读取卡识别码" in scan.hints[0].message_zh


def test_hints_stay_out_of_the_scan_answers_fields():
    scan = classify("A36010201")
    assert scan.to_dict() == {"kind": "ss_card", "raw_length": 9, "masked": "A36****01"}


# --- prescriptions and other code kinds ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["HX36011100301000000001", "hx36011100301000000001", " HX36011100301000000001\r\n"])
def test_the_demo_platforms_prescription_numbers_are_prescriptions(raw):
    assert classify(raw).to_dict()["hi_rxno"] == "HX36011100301000000001"


def test_a_card_number_with_the_ss_prefix_is_still_a_card():
    assert classify("SS1234567890123456").kind == "ss_card"


def test_a_manufacturers_own_code_is_refused_unless_the_region_allows_it():
    with pytest.raises(ScanError) as caught:
        classify("10012345678901234567")
    assert caught.value.details["fault"] == "prefix"
    scan = ScanRules(other_codes=True).classify("10012345678901234567")
    assert scan.kind == "other_code" and scan.code == "10012345678901234567"
    assert scan.to_dict() == {"kind": "other_code", "raw_length": 20, "code": "10012345678901234567",
                              "product_prefix": "1001234"}
    assert [h.code for h in scan.hints] == ["other_code"]
    assert ScanRules(other_codes=True).classify("81234567890123456789").kind == "trace_code"


def test_scan_rules_come_from_the_settings():
    settings = load_settings(None, environ={}, overrides={"scanning": {"other_codes": True, "gs_standins": ["~"]}})
    assert settings.scanning.other_codes is True and settings.scanning.gs_standins == ["~"]
    assert settings.scanning.upload_other_codes is False
