"""Card readers behind the vendor's standard library (driver "sscard_lib"): iReadCardBas's GBK answer, the standard's
return codes, and a library that crashes, hangs or overruns its buffer — run against a compiled stand-in library."""
import json
from datetime import date
from pathlib import Path

import pytest

from hardware.device import DeviceConfig, DeviceError
from hardware.manager import DeviceManager
from hardware.sscard import CODES, CardAnswerError, outcome_of, parse_card_info
from hardware.sscard_lib import CARD_INFO_BYTES, LibraryCardReader
from plugin.api.errors import ERRORS
from tests.standins import CardLibrary, card_info

DEMO = json.loads((Path(__file__).resolve().parents[2] / "adapters/sandbox/data/demo.json").read_text("utf-8"))
# A demo person is the gateway's 1101 record (baseinfo, insuinfo) plus the credentials the sandbox accepts; the card
# reader needs the identity and the card's number and identification code.
_RECORD = next(p for p in DEMO["persons"] if p["baseinfo"]["psn_name"] == "张伟")
ZHANG = {**_RECORD["baseinfo"], "card_no": _RECORD["card_no"], "card_sn": _RECORD["card_sn"]}


def config(library, **kw) -> DeviceConfig:
    return DeviceConfig.from_mapping({"name": "card-1", "kind": "card_reader", "driver": "sscard_lib",
                                      "library": str(library), "timeout_s": 3, **kw})


@pytest.fixture
def reader(card_library):
    driver = LibraryCardReader(config(card_library.path))
    yield driver
    driver.close()


# -- the answer (pure) ---------------------------------------------------------------------------------------------
def test_the_eleven_fields_of_a_gbk_answer_become_a_card():
    card = parse_card_info(card_info(ZHANG).encode("gbk"))
    assert (card.area, card.ssn, card.card_no, card.card_sn, card.name) == (
        "360100", ZHANG["certno"], "A36010201", ZHANG["card_sn"], "张伟")
    assert (card.spec_version, card.issued, card.expires) == ("3.00", date(2020, 1, 15), date(2030, 1, 15))
    assert card.canonical == f"A36010201|{ZHANG['card_sn']}"
    assert ZHANG["certno"] not in repr(card) and "张伟" not in repr(card)


def test_an_answer_without_the_last_separator_or_with_extra_vendor_fields_is_still_a_card():
    text = card_info(ZHANG)
    assert parse_card_info(text.rstrip("|").encode("gbk")).card_sn == ZHANG["card_sn"]
    assert parse_card_info((text + "厂家扩展|").encode("gbk")).card_no == "A36010201"


@pytest.mark.parametrize("raw, code", [
    ("|".join(card_info(ZHANG).split("|")[:4]).encode("gbk"), "DEVICE_LIBRARY_BAD_ANSWER"),   # truncated
    (b"360100|\xff\xfe\xfd|A36010201|", "DEVICE_LIBRARY_BAD_ANSWER"),                       # not GBK
    (card_info(ZHANG).replace("A36010201", "A3601 0201").encode("gbk"), "CARD_UNREADABLE"),
    (card_info(ZHANG).replace(ZHANG["card_sn"], "").encode("gbk"), "CARD_UNREADABLE"),
])
def test_an_answer_that_is_not_a_card_is_a_coded_error_with_a_chinese_message(raw, code):
    with pytest.raises(CardAnswerError) as caught:
        parse_card_info(raw)
    assert caught.value.code == code and caught.value.message_zh


@pytest.mark.parametrize("ret, code, state", [
    (-2, "CARD_NOT_PRESENT", "connected"), (-11, "CARD_READER_UNAVAILABLE", "disconnected"),
    (-12, "CARD_READER_UNAVAILABLE", "disconnected"), (-2201, "CARD_READER_UNAVAILABLE", "error"),
    (-4, "CARD_UNREADABLE", "connected"), (-21, "CARD_UNREADABLE", "connected"),
    (-51, "CARD_PIN_REJECTED", "connected"), (-35, "CARD_PIN_REJECTED", "connected"),
    (-52, "CARD_PIN_LOCKED", "connected"), (-31, "CARD_PIN_CANCELLED", "connected"),
    (-32, "CARD_PIN_CANCELLED", "connected"), (-12345, "CARD_UNREADABLE", "connected"),
])
def test_the_standards_return_codes_become_catalogue_codes_and_device_states(ret, code, state):
    outcome = outcome_of(ret, "厂家说明")
    assert (outcome.code, outcome.state) == (code, state)
    assert outcome.message_zh and (ret == -2 or "厂家说明" in outcome.message_zh)


def test_every_code_a_library_card_reader_can_raise_is_in_the_catalogue():
    assert set(CODES) <= set(ERRORS)
    assert {"DEVICE_CANNOT_READ"} <= set(ERRORS)


# -- the driver against the compiled stand-in ----------------------------------------------------------------------
def test_a_read_calls_iReadCardBas_with_the_read_type_and_returns_the_card(standins, tmp_path):
    lib = CardLibrary(standins.copy("sscard", tmp_path / "r"))
    lib.insert(ZHANG)
    driver = LibraryCardReader(config(lib.path, read_type=2))
    try:
        driver.open()
        card = driver.read_card()
    finally:
        driver.close()
    assert (card.card_no, card.card_sn, card.name) == ("A36010201", ZHANG["card_sn"], "张伟")
    assert lib.calls() == ["iReadCardBas 2"]


def test_no_card_is_card_not_present_and_the_reader_stays_connected(reader, card_library):
    card_library.remove()
    reader.open()
    with pytest.raises(DeviceError) as caught:
        reader.read_card()
    assert (caught.value.code, caught.value.state, reader.state) == ("CARD_NOT_PRESENT", "connected", "connected")
    assert "没有社保卡" in caught.value.message_zh


def test_a_reader_whose_cable_is_out_is_disconnected_with_the_vendors_words(reader, card_library):
    card_library.answer(-11, "读卡器连接错".encode("gbk"))
    with pytest.raises(DeviceError) as caught:
        reader.read_card()
    assert (caught.value.code, reader.state) == ("CARD_READER_UNAVAILABLE", "disconnected")
    assert "读卡器连接错" in caught.value.message_zh and caught.value.details == {"vendor_code": -11}


def test_a_crash_in_the_library_is_device_library_failed_and_the_next_read_works(reader, card_library):
    card_library.crash()
    with pytest.raises(DeviceError) as caught:
        reader.read_card()
    assert (caught.value.code, caught.value.details["reason"], reader.state) == (
        "DEVICE_LIBRARY_FAILED", "crashed", "error")
    card_library.insert(ZHANG)
    assert reader.read_card().card_sn == ZHANG["card_sn"]
    assert reader.state == "connected" and reader.restarts == 1


def test_a_hang_is_device_library_failed_after_the_timeout(card_library):
    card_library.hang()
    driver = LibraryCardReader(config(card_library.path, timeout_s=0.5))
    try:
        with pytest.raises(DeviceError) as caught:
            driver.read_card()
        assert (caught.value.code, caught.value.details["reason"]) == ("DEVICE_LIBRARY_FAILED", "hung")
        assert "无响应" in caught.value.message_zh and not driver.alive()
    finally:
        driver.close()


@pytest.mark.parametrize("data, terminate", [(b"9" * (CARD_INFO_BYTES + 40), True),
                                             (b"9" * CARD_INFO_BYTES, False)])
def test_an_answer_longer_than_the_buffer_is_a_bad_answer(reader, card_library, data, terminate):
    card_library.answer(0, data, terminate=terminate)
    with pytest.raises(DeviceError) as caught:
        reader.read_card()
    assert caught.value.code == "DEVICE_LIBRARY_BAD_ANSWER" and reader.bad_frames == 1


def test_an_answer_that_is_not_gbk_is_a_bad_answer(reader, card_library):
    card_library.answer(0, b"360100|\x81\x20\xff|A36010201|")
    with pytest.raises(DeviceError) as caught:
        reader.read_card()
    assert caught.value.code == "DEVICE_LIBRARY_BAD_ANSWER" and "GBK" in caught.value.message_zh


def test_a_missing_library_or_function_is_device_library_unavailable(tmp_path, standins):
    for path, reason in ((tmp_path / "SSCardDriver.so", "missing"),
                         (standins.copy("sscard_noread", tmp_path / "old"), "symbol_missing")):
        driver = LibraryCardReader(config(path))
        with pytest.raises(DeviceError) as caught:
            driver.open()
        assert (caught.value.code, caught.value.details["reason"], driver.state) == (
            "DEVICE_LIBRARY_UNAVAILABLE", reason, "error")
        assert caught.value.message_zh.startswith("读卡器厂家库不可用")


def test_with_verify_pin_a_read_asks_the_card_for_its_password(card_library):
    card_library.insert(ZHANG)
    driver = LibraryCardReader(config(card_library.path, verify_pin=True))
    try:
        assert driver.read_card().card_no == "A36010201"
        assert card_library.calls() == ["iReadCardBas 3", "iVerifyPIN 3"]
        card_library.answer(-51, "密码错误，剩余2次".encode("gbk"), key="pin")
        with pytest.raises(DeviceError) as caught:
            driver.read_card()
        assert caught.value.code == "CARD_PIN_REJECTED" and "剩余2次" in caught.value.message_zh
        card_library.answer(-52, "密码锁定".encode("gbk"), key="pin")
        with pytest.raises(DeviceError) as caught:
            driver.verify_pin()
        assert caught.value.code == "CARD_PIN_LOCKED"
    finally:
        driver.close()


# -- configuration ---------------------------------------------------------------------------------------------------
def test_a_library_reader_needs_no_url_and_shows_its_library_as_address(tmp_path):
    cfg = config(tmp_path / "SSCardDriver.dll")
    assert (cfg.driver, cfg.url, cfg.read_type, cfg.timeout_s) == ("sscard_lib", str(tmp_path / "SSCardDriver.dll"),
                                                                   3, 3)


@pytest.mark.parametrize("entry, key", [
    ({"kind": "card_reader", "driver": "sscard_lib"}, "library"),
    ({"kind": "card_reader", "driver": "sscard_lib", "library": "x.so", "read_type": 5}, "read_type"),
    ({"kind": "card_reader", "driver": "sscard_lib", "library": "x.so", "timeout_s": 0}, "timeout_s"),
    ({"kind": "card_reader", "driver": "sscard_lib", "library": "x.so", "verify_pin": "yes"}, "verify_pin"),
    ({"kind": "scanner", "driver": "sscard_lib", "library": "x.so"}, "driver"),
    ({"kind": "card_reader", "driver": "ocx", "url": "COM3"}, "driver"),
])
def test_a_wrong_library_reader_entry_names_its_key(entry, key):
    with pytest.raises(ValueError) as caught:
        DeviceConfig.from_mapping({"name": "card-1", **entry})
    assert key in str(caught.value)


# -- in the device manager ---------------------------------------------------------------------------------------
@pytest.fixture
def manager_with(wait_until):
    managers = []

    def make(*configs):
        states = []
        manager = DeviceManager(list(configs), on_scan=lambda *a: None,
                                on_state=lambda name, state, error: states.append((name, state, error)),
                                reprobe_s=0.2)
        manager.start()
        managers.append(manager)
        return manager, states

    yield make
    for manager in managers:
        manager.stop()


def state_of(manager, name="card-1") -> dict:
    return next(d for d in manager.states() if d["name"] == name)


def test_the_manager_reads_on_request_and_restarts_a_crashed_library(manager_with, card_library, wait_until):
    manager, _ = manager_with(config(card_library.path))
    assert wait_until(lambda: state_of(manager)["state"] == "connected")
    assert state_of(manager)["read_on_request"] is True
    card_library.insert(ZHANG)
    assert manager.read("card-1") == f"A36010201|{ZHANG['card_sn']}"
    card_library.crash()
    with pytest.raises(DeviceError):
        manager.read("card-1")
    # the device loop starts a new worker by itself; the panel goes back to connected
    assert wait_until(lambda: state_of(manager)["restarts"] == 1 and state_of(manager)["state"] == "connected")
    card_library.insert(ZHANG)
    assert manager.test("card-1")["ok"] is True


def test_a_missing_library_shows_as_a_coded_device_error_with_a_chinese_message(manager_with, tmp_path, wait_until):
    manager, _ = manager_with(config(tmp_path / "nowhere" / "SSCardDriver.so"))
    assert wait_until(lambda: state_of(manager)["state"] == "error")
    shown = state_of(manager)
    assert shown["error_code"] == "DEVICE_LIBRARY_UNAVAILABLE" and "找不到动态库" in shown["message_zh"]
    with pytest.raises(DeviceError) as caught:
        manager.read("card-1")
    assert caught.value.code == "DEVICE_LIBRARY_UNAVAILABLE"


def test_a_device_that_is_tapped_cannot_be_asked_to_read(manager_with, tcp_scanner):
    manager, _ = manager_with(DeviceConfig(name="scanner-1", kind="scanner", url=tcp_scanner.url))
    with pytest.raises(DeviceError) as caught:
        manager.read("scanner-1")
    assert caught.value.code == "DEVICE_CANNOT_READ"


def test_the_library_runs_under_the_configured_interpreter(card_library, tmp_path):
    """A 32-bit DLL needs a 32-bit Python: `library_python` is the interpreter its worker runs under."""
    import os
    import sys
    marker = tmp_path / "used"
    python32 = tmp_path / "python32"
    python32.write_text(f"#!/bin/sh\ntouch {marker}\nexec {sys.executable} \"$@\"\n")
    os.chmod(python32, 0o755)
    card_library.insert(ZHANG)
    driver = LibraryCardReader(config(card_library.path, library_python=str(python32)))
    try:
        assert driver.read_card().card_no == "A36010201"
    finally:
        driver.close()
    assert marker.exists()
