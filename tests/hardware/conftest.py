"""Real devices for the hardware tests: pseudo-terminal and TCP scanners, a TCP printer, a bounded wait."""
import time

import pytest

from hardware.simulate import PtyScanner, TcpPrinterSink, TcpScanner
from tests.standins import card_library, standins  # noqa: F401  (stand-in library fixtures)


@pytest.fixture
def pty_scanner():
    scanner = PtyScanner()
    yield scanner
    scanner.close()


@pytest.fixture
def tcp_scanner():
    scanner = TcpScanner()
    yield scanner
    scanner.close()


@pytest.fixture
def tcp_printer():
    sink = TcpPrinterSink()
    yield sink
    sink.close()


@pytest.fixture
def wait_until():
    """Poll a condition for at most `timeout` seconds; returns whether it became true (never asserts time)."""

    def wait(condition, timeout=3.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.01)
        return condition()

    return wait


@pytest.fixture
def sale():
    return {
        "pharmacy": {"name": "示例大药房（八一店）", "code": "P36010200001"},
        "time": "2024-05-01 10:15:00",
        "patient": {"name_masked": "张*", "certno_masked": "3601**********1234", "insutype": "310"},
        "setl_id": "S36010020240501000123",
        "hi_rxno": "RX360100202405010001",
        "lines": [{"name": "阿达木单抗注射液", "spec": "40mg/0.8ml", "qty": "2", "price": "1150.00",
                   "line_total": "2300.00", "trace_codes": ["81234567890123456789", "81234567890123456790"]}],
        "split": {"medfee_sumamt": "2300.00", "hifp_pay": "1656.00", "hifob_pay": "60.00", "hifmi_pay": "40.00",
                  "acct_pay": "300.00", "psn_cash_pay": "244.00", "fund_pay_sumamt": "1756.00", "balc": "50.00"},
    }
