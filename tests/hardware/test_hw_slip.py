"""The settlement slip: Chinese labels for the insurer's split, masked patient, a Code128 of setl_id that
scans back, and ESC/POS with the barcode (GS k) and the cut (GS V)."""
import io

import PIL.Image
import pytest
import zxingcpp

from hardware.device import DeviceConfig
from hardware.printer import Printer
from hardware.slip import barcode_image, slip_escpos, slip_png, slip_rows, slip_text


def test_text_slip_carries_the_split_labels_in_chinese(sale):
    text = slip_text(sale)
    for label in ("统筹", "大额或大病", "个人账户", "现金", "合计"):
        assert label in text
    assert "1656.00" in text and "244.00" in text and "2300.00" in text


def test_major_illness_row_adds_hifob_and_hifmi_exactly(sale):
    rows = {r.left: r.right for r in slip_rows(sale)}
    assert rows["大额或大病"] == "100.00"  # 60.00 + 40.00


def test_text_slip_shows_the_masked_patient(sale):
    text = slip_text(sale)
    assert "张*" in text and "3601**********1234" in text


def test_an_unmasked_name_or_id_given_by_mistake_is_masked_on_the_slip(sale):
    sale["patient"] = {"name_masked": "张三丰", "certno_masked": "360102199001011234", "insutype": "390"}
    text = slip_text(sale)
    assert "张三丰" not in text and "360102199001011234" not in text
    assert "张**" in text and "3601**********1234" in text and "城乡居民基本医疗保险" in text


def test_text_lines_fit_the_printer_width_counting_chinese_as_two_columns(sale):
    from hardware.slip import display_width
    assert all(display_width(line) <= 32 for line in slip_text(sale, width=32).splitlines())


def test_png_slip_barcode_decodes_back_to_setl_id(sale):
    image = PIL.Image.open(io.BytesIO(slip_png(sale)))
    assert [b.text for b in zxingcpp.read_barcodes(image)] == [sale["setl_id"]]


@pytest.mark.parametrize("setl_id", ["990001", "99999999999999999999999999999", "1A", "S2024-05-01_0001"])
def test_barcode_decodes_for_awkward_ids(setl_id):
    # "99…" lost two digits in python-barcode's own Code128 optimisation; its ImageWriter rounds bar widths
    assert [b.text for b in zxingcpp.read_barcodes(barcode_image(setl_id))] == [setl_id]


def test_png_slip_renders_without_a_cjk_font(sale, monkeypatch):
    import hardware.slip as slip
    slip.find_cjk_font.cache_clear()
    monkeypatch.setattr(slip, "_COMMON_CJK_FONTS", ())
    monkeypatch.setattr(slip.shutil, "which", lambda name: None)
    try:
        with pytest.warns(RuntimeWarning, match="CJK font"):
            png = slip_png(sale)
    finally:
        slip.find_cjk_font.cache_clear()
    assert [b.text for b in zxingcpp.read_barcodes(PIL.Image.open(io.BytesIO(png)))] == [sale["setl_id"]]


def test_escpos_slip_written_to_a_file_has_chinese_text_barcode_and_cut(sale, tmp_path):
    target = tmp_path / "printer.bin"
    printer = Printer(DeviceConfig(name="p1", kind="printer", url=f"file://{target}"))
    assert printer.write(slip_escpos(sale)) is True
    data = target.read_bytes()
    assert data.startswith(b"\x1b@\x1c&")  # initialise, Chinese mode on
    assert "统筹".encode("gb18030") in data and "示例大药房（八一店）".encode("gb18030") in data
    assert b"\x1dkI" + bytes([len(sale["setl_id"]) + 2]) + b"{B" + sale["setl_id"].encode() in data  # GS k CODE128
    assert b"\x1dV" in data and data.index(b"\x1dV") > data.index(b"\x1dk")  # cut after the barcode
    assert printer.state == "connected"


def test_escpos_slip_with_a_western_code_page_uses_escpos_code_page_switching(sale):
    sale["pharmacy"]["name"] = "Apotheke"
    data = slip_escpos(sale, code_page="CP437")
    assert b"\x1c&" not in data and b"Apotheke" in data and b"\x1dV" in data


def test_escpos_job_reaches_a_serial_printer_over_its_tty(sale, pty_scanner):
    job = slip_escpos(sale)
    printer = Printer(DeviceConfig(name="p1", kind="printer", url=pty_scanner.path))
    assert printer.write(job) is True
    assert pty_scanner.read_from_host(len(job)) == job


def test_a_serial_printer_that_is_not_plugged_in_is_state_error(tmp_path):
    printer = Printer(DeviceConfig(name="p1", kind="printer", url=str(tmp_path / "usb-lp0")))
    assert printer.write(b"JOB") is False
    assert printer.state == "error" and printer.last_error == f"no such device: {tmp_path / 'usb-lp0'}"
