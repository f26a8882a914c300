"""Printing inside the running service (issue 19): every print in the printer's own code page and width, the test
print of a UTF-8 printer, an unknown code page refused at `rxlane config check` and at start, and no slip or print
path answering 500 whatever the sale's state or the printer's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hardware.slip import display_width
from plugin.cli import main
from tests.e2e.conftest import LIU, PERSONS, RX_LIU_SEC, SECUKINUMAB, ZHANG, identify, new_sale

ROOT = Path(__file__).resolve().parents[2]
RARE_NAME = "䶮𠮷大药房"      # a store name with characters outside GBK


def printer(tmp_path: Path, **extra) -> tuple[dict, Path]:
    target = tmp_path / "printer.bin"
    return {"name": "printer-1", "kind": "printer", "url": f"file://{target}", **extra}, target


def settled_sale(http, person: dict = ZHANG, **sale_fields) -> str:
    """A settled sale of ``person`` (by default 张伟's 奥希替尼 on his prescription HX…0001)."""
    sale = new_sale(http, identify(http, person)["patient_ref"], **sale_fields)
    assert http.post(f"/v1/sales/{sale['id']}/settle").status_code == 200
    return sale["id"]


def test_the_slip_prints_in_the_printers_code_page_and_width(service_factory, tmp_path):
    entry, target = printer(tmp_path, code_page="gbk", columns=32)
    _svc, http = service_factory(devices=[entry], store={"fixmedins_name": RARE_NAME})
    sale_id = settled_sale(http)
    assert http.post(f"/v1/sales/{sale_id}/print").json()["ok"] is True
    job = target.read_bytes()
    assert job.startswith(b"\x1b@\x1c&")
    assert "□□大药房".encode("gbk") in job and "𠮷".encode("gb18030") not in job
    text = job.decode("gbk", errors="replace")
    assert "-" * 32 in text and "-" * 33 not in text
    slip = http.get(f"/v1/sales/{sale_id}/slip.txt").text      # the text slip is laid out at the same width
    assert all(display_width(line) <= 32 for line in slip.splitlines())


def test_the_test_print_of_a_utf8_printer_answers_ok(service_factory, tmp_path):
    entry, target = printer(tmp_path, code_page="utf-8")
    _svc, http = service_factory(devices=[entry])
    r = http.post("/v1/devices/printer-1/test")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert target.read_bytes().startswith(b"\x1b@\x1c.\x1c(C\x02\x000\x02")


def test_a_refunded_sales_slip_says_so(service_factory, tmp_path):
    entry, target = printer(tmp_path)
    _svc, http = service_factory(devices=[entry])
    sale_id = settled_sale(http)
    assert http.post(f"/v1/sales/{sale_id}/refund", {"reason": "患者退药"}).status_code == 200
    assert "已退费" in http.get(f"/v1/sales/{sale_id}/slip.txt").text
    assert http.post(f"/v1/sales/{sale_id}/print").json()["ok"] is True
    assert "已退费".encode("gb18030") in target.read_bytes()


def test_config_check_refuses_an_unknown_code_page(tmp_path):
    config = tmp_path / "store.toml"
    config.write_text('[[devices]]\nname = "p1"\nkind = "printer"\nurl = "file:///tmp/x.bin"\ncode_page = "klingon"\n',
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", "--config", str(config)], env={"RXLANE_CHAIN": ""})
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "INVALID_INPUT" and "code_page" in error["message"] and "klingon" in error["message"]
    config.write_text(config.read_text("utf-8").replace("klingon", "gbk"), encoding="utf-8")
    ok = CliRunner().invoke(main, ["config", "check", "--config", str(config)], env={"RXLANE_CHAIN": ""})
    assert ok.exit_code == 0 and json.loads(ok.stdout)["effective"]["devices"][0]["code_page"] == "gbk"


def test_serve_refuses_to_start_with_an_unknown_code_page(tmp_path):
    config = tmp_path / "store.toml"
    config.write_text('[[devices]]\nname = "p1"\nkind = "printer"\nurl = "file:///tmp/x.bin"\ncode_page = "utf-16"\n',
                      encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "plugin.cli", "serve", "--config", str(config), "--port", "0",
                           "--sandbox-port", "0", "--data-dir", str(tmp_path / "data")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("RXLANE_")},
                               "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "code_page" in proc.stderr and "rxlane listening" not in proc.stdout


@pytest.fixture
def sales_in_every_state(rx, sandbox_http):
    """One sale per state; each one the insurer settles is on a prescription of its own (a dispensed prescription
    cannot be sold again): 张伟's, 刘洋's and 王建国's demo prescriptions."""
    _svc, http = rx
    ref = identify(http)["patient_ref"]
    ids = {"draft": new_sale(http, ref)["id"], "settled": settled_sale(http)}
    refunded = settled_sale(http, LIU, med=SECUKINUMAB, price="598.00", rx=RX_LIU_SEC)
    assert http.post(f"/v1/sales/{refunded}/refund").status_code == 200
    ids["refunded"] = refunded
    cancelled = new_sale(http, ref)["id"]
    http.session.delete(f"{http.base}/v1/sales/{cancelled}")
    ids["cancelled"] = cancelled
    wang = identify(http, PERSONS["王建国"])["patient_ref"]
    doubt = new_sale(http, wang, rx="HX36011100301000000006")["id"]
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    assert http.post(f"/v1/sales/{doubt}/settle").status_code == 409
    ids["in_doubt"] = doubt
    return ids


def test_no_slip_or_print_path_answers_500_in_any_state(rx, sales_in_every_state):
    svc, http = rx
    with svc.ledger.transaction() as c:   # an insurer's settlement id no barcode can hold
        c.execute("UPDATE sales SET setl_id = ? WHERE id = ?", ("结算Ω0001", sales_in_every_state["settled"]))
    for state, sale_id in sales_in_every_state.items():
        for method, path in (("GET", "slip.txt"), ("GET", "slip.png"), ("POST", "print")):
            r = http.session.request(method, f"{http.base}/v1/sales/{sale_id}/{path}", json={} if method == "POST"
                                     else None, timeout=30)
            assert r.status_code < 500, (state, path, r.status_code, r.text[:200])
            if r.status_code >= 400:
                assert r.json()["error"]["code"] in ("INVALID_STATE", "PRINTER_UNAVAILABLE"), (state, path)
    settled = sales_in_every_state["settled"]
    assert http.get(f"/v1/sales/{settled}/slip.png").status_code == 200
    assert "结算Ω0001" in http.get(f"/v1/sales/{settled}/slip.txt").text


def test_a_printer_that_is_off_is_printer_unavailable_not_500(service_factory, tmp_path):
    _svc, http = service_factory(devices=[{"name": "p1", "kind": "printer", "url": str(tmp_path / "usb-lp0")}])
    sale_id = settled_sale(http)
    r = http.post(f"/v1/sales/{sale_id}/print")
    assert r.status_code == 409 and r.json()["error"]["code"] == "PRINTER_UNAVAILABLE"
    assert http.post("/v1/devices/p1/test").json()["ok"] is False
