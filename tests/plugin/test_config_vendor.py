"""Settings for vendor libraries: `[nhsa] transport = "dll"` needs its library; a library card reader needs no url;
COM port names are device URLs (docs/vendor-libraries.md)."""
import pytest

from plugin.api.errors import InvalidInput
from plugin.config import load_settings


def settings(**sections):
    return load_settings(None, environ={}, overrides=sections)


def test_the_gateway_travels_over_http_unless_the_dll_transport_is_chosen():
    s = settings()
    assert (s.nhsa.transport, s.nhsa.dll_path, s.nhsa.dll_encoding) == ("http", "", "gb18030")
    assert s.embedded_sandbox


def test_the_dll_transport_needs_its_library_and_starts_no_sandbox():
    with pytest.raises(InvalidInput) as caught:
        settings(nhsa={"transport": "dll"})
    assert "dll_path" in caught.value.message
    s = settings(nhsa={"transport": "dll", "dll_path": "C:/YBJK/SiInterface_hsf.dll"})
    assert not s.embedded_sandbox


def test_an_unknown_code_page_for_the_front_end_is_refused():
    with pytest.raises(InvalidInput) as caught:
        settings(nhsa={"transport": "dll", "dll_path": "x.dll", "dll_encoding": "ansi-please"})
    assert "dll_encoding" in caught.value.message


def test_the_dll_settings_come_from_the_environment_too():
    s = load_settings(None, environ={"RXLANE_NHSA__TRANSPORT": "dll", "RXLANE_NHSA__DLL_PATH": "/opt/ybjk/libSi.so"})
    assert (s.nhsa.transport, s.nhsa.dll_path) == ("dll", "/opt/ybjk/libSi.so")


@pytest.mark.parametrize("url", ["COM3", r"\\.\COM10", "/dev/ttyACM0", "socket://10.0.0.7:4001"])
def test_com_ports_and_other_pyserial_urls_are_device_urls(url):
    s = settings(devices=[{"name": "scanner-1", "kind": "scanner", "url": url}])
    assert s.devices[0].url == url


def test_a_library_card_reader_needs_no_url_but_other_devices_do():
    s = settings(devices=[{"name": "card-1", "kind": "card_reader", "driver": "sscard_lib",
                           "library": "C:/SSCard/SSCardDriver.dll", "read_type": 3, "timeout_s": 10}])
    assert s.devices[0].model_extra["library"] == "C:/SSCard/SSCardDriver.dll"
    with pytest.raises(InvalidInput) as caught:
        settings(devices=[{"name": "scanner-1", "kind": "scanner"}])
    assert "url" in caught.value.message
