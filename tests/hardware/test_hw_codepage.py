"""Receipt printers' code pages (issue 19; hardware/codepage.py): GBK printers get a visible □ for a character GBK
lacks (never GB18030's four bytes), GB18030 printers every character, UTF-8 printers UTF-8 after FS ( C; the width is
the printer's; an unknown code page is refused when the configuration is read, never at a sale."""
import pytest

from hardware.codepage import STANDIN, canonical_code_page, encode_text
from hardware.device import DeviceConfig
from hardware.manager import DeviceManager
from hardware.slip import FS_CHINESE_ON, FS_UTF8, display_width, slip_escpos, slip_png, slip_text

RARE = "䶮𠮷"   # CJK extension A (GB18030's two-byte FE9F, outside GBK) and B (four bytes in GB18030)


@pytest.mark.parametrize("name, canonical", [
    ("", "gb18030"), ("GB18030", "gb18030"), ("gbk", "gbk"), ("GB2312", "gbk"), ("cp936", "gbk"),
    ("UTF-8", "utf-8"), ("utf8", "utf-8"), ("cp437", "CP437"), ("CP1252", "CP1252"),
])
def test_code_page_names_are_read_in_one_spelling(name, canonical):
    assert canonical_code_page(name) == canonical


@pytest.mark.parametrize("name", ["klingon", "utf-16", "big5x", "CP9999"])
def test_an_unknown_code_page_is_refused_naming_what_is_supported(name):
    with pytest.raises(ValueError, match="gb18030, gbk, utf-8"):
        canonical_code_page(name)


def test_gbk_prints_a_visible_stand_in_for_characters_gbk_lacks():
    assert encode_text(f"刘{RARE}药", "gbk") == f"刘{STANDIN}{STANDIN}药".encode("gbk")
    assert encode_text(f"刘{RARE}药", "gb18030") == f"刘{RARE}药".encode("gb18030")
    assert len("𠮷".encode("gb18030")) == 4 and "䶮".encode("gb18030") not in encode_text("䶮", "gbk")


def test_a_gbk_slip_has_no_four_byte_characters(sale):
    sale["pharmacy"]["name"] = f"{RARE}大药房"
    job = slip_escpos(sale, code_page="gbk")
    assert job.startswith(b"\x1b@" + FS_CHINESE_ON)
    assert f"{STANDIN}{STANDIN}大药房".encode("gbk") in job
    assert "䶮".encode("gb18030") not in job and "𠮷".encode("gb18030") not in job
    gb18030 = slip_escpos(sale, code_page="gb18030")
    assert f"{RARE}大药房".encode("gb18030") in gb18030


def test_a_utf8_printer_is_switched_to_utf8_and_gets_utf8(sale):
    job = slip_escpos(sale, code_page="utf-8")
    assert job.startswith(b"\x1b@\x1c." + FS_UTF8) and FS_CHINESE_ON not in job
    assert "示例大药房（八一店）".encode() in job and "统筹".encode() in job


@pytest.mark.parametrize("columns", [32, 42, 48])
def test_the_slip_is_laid_out_at_the_printers_width(sale, columns):
    job = slip_escpos(sale, code_page="gb18030", width=columns)
    lines = slip_text(sale, columns).splitlines()
    assert all(display_width(line) <= columns for line in lines)
    for line in lines:
        assert line.encode("gb18030") in job
    assert ("-" * columns).encode() in job and ("-" * (columns + 1)).encode() not in job


def test_a_refunded_slip_is_marked_at_the_top_and_says_what_went_back(sale):
    sale.update(state="refunded", refund={"refunded_at": "2024-05-02 09:00:00", "reason": "患者退药"})
    text = slip_text(sale)
    assert text.index("已退费") < text.index("结算号")
    for words in ("已退费（医保结算已撤销）", "退费时间", "2024-05-02 09:00:00", "退还现金", "退回个人账户",
                  "患者退药"):
        assert words in text
    assert "已退费" not in slip_text({**sale, "state": "settled"})


def test_a_settlement_id_code128_cannot_hold_is_printed_as_text_only(sale):
    sale["setl_id"] = "结算0001"
    assert b"\x1dk" not in slip_escpos(sale)
    assert slip_png(sale)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "结算0001" in slip_text(sale)


@pytest.mark.parametrize("entry, ok", [
    ({"code_page": "UTF8"}, "utf-8"), ({"code_page": "gbk"}, "gbk"), ({"code_page": "klingon"}, None),
    ({"code_page": "cp437"}, "CP437")])
def test_the_device_configuration_refuses_an_unknown_code_page(entry, ok):
    base = {"name": "p1", "kind": "printer", "url": "file:///tmp/x.bin"}
    if ok is None:
        with pytest.raises(ValueError, match="code_page"):
            DeviceConfig.from_mapping({**base, **entry})
    else:
        assert DeviceConfig.from_mapping({**base, **entry}).code_page == ok


def test_the_test_print_of_a_utf8_printer_prints(tmp_path):
    target = tmp_path / "p.bin"
    manager = DeviceManager([DeviceConfig.from_mapping({"name": "p1", "kind": "printer", "url": f"file://{target}",
                                                        "code_page": "utf-8", "columns": 32})],
                            on_scan=lambda *a: None, on_state=lambda *a: None)
    result = manager.test("p1")
    assert result["ok"] is True
    data = target.read_bytes()
    assert data.startswith(b"\x1b@\x1c." + FS_UTF8) and "打印测试".encode() in data
    assert ("-" * 32).encode() in data and ("-" * 33).encode() not in data


def test_a_slip_that_cannot_be_rendered_is_a_failed_print_not_an_exception(tmp_path, sale):
    # a configuration that skipped validation (built in code): the print says why instead of raising
    manager = DeviceManager([DeviceConfig(name="p1", kind="printer", url=f"file://{tmp_path / 'p.bin'}",
                                          code_page="klingon")], on_scan=lambda *a: None, on_state=lambda *a: None)
    result = manager.print_slip(None, sale)
    assert result["ok"] is False and "cannot render the slip" in result["error"]
    assert manager.print_slip("nope", sale) == {"name": "nope", "ok": False, "error": "no printer named 'nope'"}
