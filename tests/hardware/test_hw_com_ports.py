"""Windows COM port names are device URLs (deploy/windows/README.md): `COM3`, and `\\\\.\\COM10` for ports above 9.
On this Linux machine such a port simply does not exist: the device reports it in words and nothing crashes."""
import pytest

from hardware.device import DeviceConfig
from hardware.manager import DeviceManager
from hardware.transport import is_com_port, is_path_url


@pytest.mark.parametrize("url, com", [("COM3", True), ("com12", True), (r"\\.\COM10", True), (r"\\.\COM", False),
                                      ("COM3x", False), ("/dev/ttyACM0", False), ("socket://10.0.0.7:4001", False)])
def test_com_port_names_are_recognised_and_are_not_file_paths(url, com):
    assert is_com_port(url) is com
    if com:
        assert not is_path_url(url)


@pytest.mark.parametrize("url", ["COM3", r"\\.\COM10"])
def test_a_scanner_on_a_com_port_that_is_not_there_reports_no_such_device(url, wait_until):
    config = DeviceConfig.from_mapping({"name": "scanner-1", "kind": "scanner", "url": url})
    manager = DeviceManager([config], on_scan=lambda *a: None, on_state=lambda *a: None, reprobe_s=0.2)
    manager.start()
    try:
        assert wait_until(lambda: manager.states()[0]["state"] == "error")
        assert manager.states()[0]["error"] == f"no such device: {url}"
    finally:
        manager.stop()


def test_a_chain_inventory_can_name_com_ports_for_its_windows_counters():
    from plugin.fleet.inventory import parse_devices
    assert parse_devices(r"scanner-1:scanner:\\.\COM10:cr;card-1:card_reader:COM3") == (
        {"name": "scanner-1", "kind": "scanner", "url": r"\\.\COM10", "framing": "cr"},
        {"name": "card-1", "kind": "card_reader", "url": "COM3"})
