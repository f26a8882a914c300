"""PC/SC social-security card reader (issue 7): the model's APDU steps over pyscard's API, faked at that seam
(the lowest one: a reader object whose connection answers APDUs like a card would)."""
import pytest

from hardware.cardreader import PCSC_MISSING, PcscCardReader, parse_card
from hardware.device import DeviceConfig, DeviceError
from hardware.framing import BadFrame

SELECT = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"


def tlv(tag: int, text: str) -> list[int]:
    value = text.encode("ascii")
    return [tag, len(value), *value]


class FakeCard:
    def __init__(self, card_no="A36010201", card_sn="360100D15600000500A1B2C3D4E5F601", fail_at=None):
        self.records = {0x01: tlv(0x01, card_sn), 0x07: tlv(0x07, card_no)}
        self.fail_at = fail_at
        self.sent: list[str] = []

    def answer(self, apdu: list[int]):
        hexed = bytes(apdu).hex().upper()
        self.sent.append(hexed)
        if self.fail_at and hexed.startswith(self.fail_at):
            return [], 0x6A, 0x82
        if apdu[:2] == [0x00, 0xB2]:
            return self.records[apdu[2]], 0x90, 0x00
        return [], 0x90, 0x00


class NoCard(Exception):
    pass


class FakeReader:
    def __init__(self, name="ACS ACR39U 00"):
        self.name = name
        self.card: FakeCard | None = None

    def __str__(self):
        return self.name

    def createConnection(self):
        reader = self

        class Conn:
            def connect(self):
                if reader.card is None:
                    raise NoCard()

            def transmit(self, apdu):
                if reader.card is None:
                    raise NoCard()
                return reader.card.answer(apdu)

            def disconnect(self):
                pass
        return Conn()


def reader_for(fake, url="pcsc://"):
    config = DeviceConfig.from_mapping({"name": "card-1", "kind": "card_reader", "url": url, "model": "pcsc-ssc"})
    driver = PcscCardReader(config, readers=lambda: [fake])
    return driver


def test_a_card_tap_reads_number_and_identification_code_once_per_tap():
    fake = FakeReader()
    driver = reader_for(fake)
    driver.open()
    assert driver.state == "connected" and driver.read_frame(0.05) is None      # no card yet
    fake.card = FakeCard()
    frame = driver.read_frame(0.5)
    card = parse_card(frame)
    assert (card.card_no, card.card_sn) == ("A36010201", "360100D15600000500A1B2C3D4E5F601")
    assert fake.card.sent[0] == SELECT
    assert driver.read_frame(0.05) is None                                      # still in the slot: once per tap
    fake.card = None
    assert driver.read_frame(0.05) is None
    fake.card = FakeCard(card_no="B36010402", card_sn="360100D15600000500A1B2C3D4E5F602")
    assert parse_card(driver.read_frame(0.5)).card_no == "B36010402"


def test_a_card_that_refuses_a_step_is_a_bad_frame_not_a_scan():
    fake = FakeReader()
    fake.card = FakeCard(fail_at="00B207")
    driver = reader_for(fake)
    driver.open()
    with pytest.raises(BadFrame):
        driver.read_frame(0.2)
    assert driver.bad_frames == 1


def test_a_named_reader_that_is_absent_is_an_error_with_a_readable_message():
    driver = reader_for(FakeReader("Other Reader"), url="pcsc://ACS")
    with pytest.raises(DeviceError):
        driver.open()
    assert driver.state == "error" and "no PC/SC reader named 'ACS'" in driver.last_error


def test_without_pyscard_the_device_says_how_to_install_it(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_smartcard(name, *args, **kwargs):
        if name.startswith("smartcard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_smartcard)
    config = DeviceConfig.from_mapping({"name": "card-1", "kind": "card_reader", "url": "pcsc://",
                                        "model": "pcsc-ssc"})
    driver = PcscCardReader(config)
    with pytest.raises(DeviceError):
        driver.open()
    assert driver.state == "error" and driver.last_error == PCSC_MISSING


def test_the_apdu_steps_are_validated_as_data():
    with pytest.raises(ValueError, match="apdu_card_no"):
        DeviceConfig.from_mapping({"name": "c", "kind": "card_reader", "url": "pcsc://",
                                   "apdu_card_no": ["not hex"]})
