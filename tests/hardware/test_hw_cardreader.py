"""Card readers: the serial frame `card_no|card_sn` (separator per model), and PC/SC only with the [hw] extra."""
import builtins

import pytest

from hardware.cardreader import PCSC_MISSING, CardRead, card_reader_for, parse_card
from hardware.device import DeviceConfig, DeviceError
from hardware.framing import BadFrame


def reader_at(url, **kw):
    driver = card_reader_for(DeviceConfig(name="card-1", kind="card_reader", url=url, **kw))
    driver.open()
    return driver


def test_parse_card_splits_card_number_and_serial():
    assert parse_card("A12345678|SN0001") == CardRead(card_no="A12345678", card_sn="SN0001")


def test_parse_card_ignores_trailing_fields_such_as_the_holders_name():
    assert parse_card("A12345678|SN0001|ZHANGSAN") == CardRead("A12345678", "SN0001")


@pytest.mark.parametrize("text", ["A12345678", "|SN0001", "A1234 5678|SN1", "A12345678|"])
def test_parse_card_refuses_what_is_not_a_card_read(text):
    with pytest.raises(BadFrame):
        parse_card(text)


def test_serial_reader_delivers_the_canonical_frame_whatever_the_models_separator(pty_scanner):
    driver = reader_at(pty_scanner.path, separator=",")
    try:
        pty_scanner.scan("A12345678,SN0001")
        assert driver.read_frame(2.0) == "A12345678|SN0001"
    finally:
        driver.close()


def test_serial_reader_reports_a_malformed_read_as_a_bad_frame(pty_scanner):
    driver = reader_at(pty_scanner.path)
    try:
        pty_scanner.scan("A12345678")
        with pytest.raises(BadFrame):
            driver.read_frame(2.0)
    finally:
        driver.close()


def test_pcsc_without_pyscard_is_state_error_with_the_install_hint(monkeypatch):
    real_import = builtins.__import__

    def no_smartcard(name, *args, **kwargs):
        if name.startswith("smartcard"):
            raise ImportError("No module named 'smartcard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_smartcard)
    driver = card_reader_for(DeviceConfig(name="card-1", kind="card_reader", url="pcsc://"))
    with pytest.raises(DeviceError):
        driver.open()
    assert driver.state == "error"
    assert driver.last_error == PCSC_MISSING == "PC/SC support needs the optional extra: pip install 'rxlane[hw]'"
