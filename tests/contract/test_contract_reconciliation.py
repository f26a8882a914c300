"""The reconciliation messages and files against the interface's examples (tests/contract/wire,
docs/reconciliation.md): 3201's ``stmtinfo``, the 7-column detail file through 9101, 3202's ``fileinfo``, the 9102 zip
and its result file."""
from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.nhsa import reconciliation as tx
from adapters.nhsa.envelope import parse_answer
from adapters.nhsa.errors import GatewayProtocolError, GatewayRefused
from adapters.nhsa.profile import check_input, load_profile

WIRE = Path(__file__).parent / "wire"
NATIONAL = load_profile("national")
DAY = date(2025, 11, 20)


def wire(name: str) -> dict:
    return json.loads((WIRE / name).read_text("utf-8"))


def _same(ours: dict, theirs: dict) -> None:
    assert set(ours) == set(theirs)
    for key, value in ours.items():
        if isinstance(value, Decimal):
            assert value == Decimal(str(theirs[key])), key
        else:
            assert value == theirs[key], key


def test_3201_totals_as_the_sample_and_its_answer_read_from_stmtinfo():
    sent = tx.totals_input(insutype="310", clr_type="41", setl_optins="360100", begin=DAY, end=DAY,
                           medfee_sumamt=Decimal("4386.80"), fund_pay_sumamt=Decimal("3045.60"),
                           acct_pay=Decimal("1341.20"), fixmedins_setl_cnt=2)
    _same(sent["data"], wire("3201.request.json")["input"]["data"])
    assert check_input(NATIONAL.message("3201"), sent) == []
    ok = tx.parse_totals(parse_answer(wire("3201.answer.json")).output)
    assert ok.balanced and ok.setl_optins == "360100"
    short = tx.parse_totals(parse_answer(wire("3201.answer.unbalanced.json")).output)
    assert (short.balanced, short.stmt_rslt) == (False, "1") and "中心多" in short.stmt_rslt_dscr


def test_a_3201_answer_without_stmt_rslt_cannot_be_read():
    answer = wire("3201.answer.json")
    answer["output"] = {"data": {"stmt_rslt": "0"}}
    with pytest.raises(GatewayProtocolError):
        tx.parse_totals(parse_answer(answer).output)


def test_the_detail_file_is_seven_tab_columns_utf8_crlf_and_round_trips_through_its_zip():
    rows = tx.read_detail((WIRE / "3202.detail.zip").read_bytes())
    assert [r.setl_id for r in rows] == ["3601000012345678", "3601000012345690"]
    assert tx.detail_text(rows) == (WIRE / "3202.detail.txt").read_bytes()
    name = tx.detail_file_name("P36010200001", DAY, "360100")
    assert tx.read_detail(tx.zipped(name, tx.detail_text(rows))) == rows


def test_9101_carries_the_zip_as_base64_and_answers_its_file_number():
    content = (WIRE / "3202.detail.zip").read_bytes()
    sample = wire("9101.request.json")["input"]
    sent = tx.upload_input(NATIONAL, content=content, filename=sample["fsUploadIn"]["filename"],
                           fixmedins_code="P36010200001")
    assert sent == sample
    assert check_input(NATIONAL.message("9101"), sent) == []
    ref = tx.parse_file_ref(parse_answer(wire("9101.answer.json")).output)
    assert ref.file_qury_no == "M00/00/2A/CkEBx2k9F0SAQm3tAAABIz7bXlU123.zip"


def test_9101_as_a_byte_array_where_the_profile_says_so():
    profile = NATIONAL.model_copy(update={"reconcile": NATIONAL.reconcile.model_copy(
        update={"file_transport": "bytes"})})
    sent = tx.upload_input(profile, content=b"PK\x03", filename="f.zip", fixmedins_code="P36010200001")
    assert sent["fsUploadIn"]["in"] == [80, 75, 3]


def test_3202_totals_of_the_live_rows_and_the_file_number_and_its_answer_read_from_fileinfo():
    rows = tx.read_detail((WIRE / "3202.detail.zip").read_bytes())
    refunded = tx.DetailRow("3601000012399999", "M", "P", Decimal("10.00"), Decimal("8.00"), Decimal("2.00"),
                            Decimal("0.00"), refunded=True)
    sample = wire("3202.request.json")["input"]["data"]
    sent = tx.detail_input(NATIONAL, setl_optins="360100", file_qury_no=sample["file_qury_no"], begin=DAY,
                           end=DAY, rows=[*rows, refunded])
    _same(sent["data"], sample)
    assert check_input(NATIONAL.message("3202"), sent) == []
    ref = tx.parse_file_ref(parse_answer(wire("3202.answer.json")).output, "fileinfo", "3202")
    assert tx.download_input(ref, "P36010200001") == wire("9102.request.json")["input"]


def test_9102_answers_a_zip_whose_result_rows_name_every_difference():
    content = tx.read_download((WIRE / "9102.answer.zip").read_bytes(), "application/octet-stream")
    rows = tx.read_result(content, NATIONAL.reconcile.result_columns)
    assert [(r.setl_id, r.stmt_rslt) for r in rows] == [("3601000012345678", "0"), ("3601000012345690", "0"),
                                                       ("3601000012345702", "1")]
    odd = rows[2]
    assert odd.differs and odd.verdict == "centre_has_more" and odd.memo.startswith("医药机构无此结算")
    assert (odd.msgid, odd.medfee_sumamt, odd.acct_pay) == ("P36010200001202511201612000017", Decimal("125.50"),
                                                            Decimal("25.10"))
    assert rows[0].memo == ""       # the literal null
    assert tx.result_text(rows, NATIONAL.reconcile.result_columns) == (WIRE / "3202.result.txt").read_bytes()


def test_a_9102_refusal_is_an_envelope_and_anything_else_is_unreadable():
    refusal = json.dumps({"infcode": -1, "err_msg": "文件不存在或已过期"}, ensure_ascii=False).encode()
    with pytest.raises(GatewayRefused) as caught:
        tx.read_download(refusal, "application/json")
    assert caught.value.err_msg == "文件不存在或已过期"
    for body in (b"<html>502</html>", json.dumps({"infcode": 0, "output": {}}).encode()):
        with pytest.raises(GatewayProtocolError):
            tx.read_download(body)


def test_a_result_file_with_too_few_columns_or_a_bad_amount_or_no_text_file_is_unreadable():
    columns = NATIONAL.reconcile.result_columns
    for text in ("1\t2\t3\n", "p\tm\ts\tmsg\t0\t0\tnull\tabc\t1\t1\n"):
        with pytest.raises(GatewayProtocolError):
            tx.read_result(tx.zipped("result.txt", text.encode()), columns)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("result.bin", b"\x00")
    with pytest.raises(GatewayProtocolError):
        tx.read_result(buf.getvalue(), columns)
    with pytest.raises(GatewayProtocolError):
        tx.read_result(b"PK not a zip", columns)


def test_the_result_columns_follow_the_profile_where_a_province_swaps_columns_5_and_6():
    swapped = ["psn_no", "mdtrt_id", "setl_id", "msgid", "refd_setl_flag", "stmt_rslt", "memo", "medfee_sumamt",
               "fund_pay_sumamt", "acct_pay"]
    body = b"p\tm\tS1\tmsg\t0\t2\tnull\t1.00\t0.00\t1.00\r\n"
    row = tx.read_result(tx.zipped("result.txt", body), swapped)[0]
    assert (row.stmt_rslt, row.refd_setl_flag, row.verdict) == ("2", "0", "pharmacy_has_more")


def test_a_detail_zip_that_is_not_seven_columns_is_refused():
    for text in ("a\tb\tc\r\n", "a\tb\tc\t1\t2\t3\t7\r\n", "a\tb\tc\tx\t2\t3\t0\r\n"):
        with pytest.raises(ValueError):
            tx.read_detail(tx.zipped("d.txt", text.encode()))
    with pytest.raises(ValueError):
        tx.read_detail(base64.b64decode(b"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="))
