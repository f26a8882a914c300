"""`rxlane simulate scanner`: prints the pty path, then sends its scans to whoever opened it."""
import re
import threading

from hardware.device import DeviceConfig
from hardware.scanner import SerialScanner
from hardware.simulate import run_simulated_scanner


def test_simulated_scanner_prints_its_pty_and_its_scans_reach_the_driver(wait_until):
    lines, stop = [], threading.Event()
    runner = threading.Thread(target=run_simulated_scanner,
                              kwargs={"scans": ["81234567890123456789", "6901234567892"], "framing": "cr",
                                      "interval": 0.5, "echo": lines.append, "stop": stop})
    runner.start()
    try:
        assert wait_until(lambda: lines and lines[0].startswith("scanner pty: "))
        path = re.fullmatch(r"scanner pty: (\S+)", lines[0]).group(1)
        assert path.startswith("/dev/pts/")
        driver = SerialScanner(DeviceConfig(name="sim", kind="scanner", url=path))
        driver.open()
        try:
            got = [driver.read_frame(3.0), driver.read_frame(3.0)]
        finally:
            driver.close()
        assert got == ["81234567890123456789", "6901234567892"]
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()
