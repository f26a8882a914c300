"""The daily reconciliation's messages and files (docs/reconciliation.md): 【3201】 totals, and the detail flow
【9101】 upload the detail file → 【3202】 with its ``file_qury_no`` → 【9102】 download the result file.

- 3201 ``data{insutype, clr_type, setl_optins, stmt_begndate, stmt_enddate, medfee_sumamt, fund_pay_sumamt,
  acct_pay, fixmedins_setl_cnt}`` → ``output.stmtinfo{setl_optins, stmt_rslt, stmt_rslt_dscr}``; ``stmt_rslt`` 0
  balanced, 1 the centre has more, 2 the pharmacy has more, 3 the data differ.
- The detail file: one settlement per line, 7 tab-separated columns ``setl_id, mdtrt_id, psn_no, medfee_sumamt,
  fund_pay_sumamt, acct_pay, refd_setl_flag``, no header, UTF-8, CRLF; zipped.
- 9101 ``fsUploadIn{in, filename, fixmedins_code}`` (``in``: the zip as base64, or a JSON array of bytes where the
  profile says so) → flat ``output{file_qury_no, filename, dld_endtime}``.
- 3202 ``data{setl_optins, file_qury_no, stmt_begndate, stmt_enddate, medfee_sumamt, fund_pay_sumamt, cash_payamt,
  fixmedins_setl_cnt}`` → ``output.fileinfo{file_qury_no, filename, dld_endtime}`` of the result file.
- 9102 ``fsDownloadIn{file_qury_no, filename, fixmedins_code}`` → the HTTP body is the zip itself (``PK…``), not an
  envelope; a refusal is an ordinary JSON envelope. The zip holds ``result.txt``: tab-separated rows in the
  profile's ``result_columns`` order, ``null`` for an empty value.

Parsers raise only ``GatewayProtocolError``; ``read_download`` raises ``GatewayRefused`` for a refusal envelope.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from adapters.nhsa.envelope import parse_answer
from adapters.nhsa.errors import GatewayProtocolError, GatewayRefused
from adapters.nhsa.money import fen, money
from adapters.nhsa.profile import GatewayProfile
from adapters.nhsa.reading import as_object, decode_body, node, text

DETAIL_COLUMNS = ("setl_id", "mdtrt_id", "psn_no", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "refd_setl_flag")
#: stmt_rslt codes (the interface's code table), in the words the report uses.
STMT_RSLT = {"0": "balanced", "1": "centre_has_more", "2": "pharmacy_has_more", "3": "data_differ"}
#: The largest result file rxlane reads (a pharmacy's day is a few hundred rows; a bigger body is not a result).
MAX_RESULT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class DetailRow:
    """One settlement in the detail file (and what 3202's header sums over)."""
    setl_id: str
    mdtrt_id: str
    psn_no: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    refunded: bool = False

    def line(self) -> str:
        values = (self.setl_id, self.mdtrt_id, self.psn_no, f"{fen(self.medfee_sumamt):.2f}",
                  f"{fen(self.fund_pay_sumamt):.2f}", f"{fen(self.acct_pay):.2f}", "1" if self.refunded else "0")
        for v in values[:3]:
            if "\t" in v or "\r" in v or "\n" in v:
                raise ValueError("a detail-file id may not hold a tab or a line break")
        return "\t".join(values)


# -- 3201 -----------------------------------------------------------------------------------------------------------
def totals_input(*, insutype: str, clr_type: str, setl_optins: str, begin: date, end: date, medfee_sumamt: Decimal,
                 fund_pay_sumamt: Decimal, acct_pay: Decimal, fixmedins_setl_cnt: int) -> dict[str, Any]:
    return {"data": {"insutype": insutype, "clr_type": clr_type, "setl_optins": setl_optins,
                     "stmt_begndate": begin.isoformat(), "stmt_enddate": end.isoformat(),
                     "medfee_sumamt": fen(medfee_sumamt), "fund_pay_sumamt": fen(fund_pay_sumamt),
                     "acct_pay": fen(acct_pay), "fixmedins_setl_cnt": fixmedins_setl_cnt}}


@dataclass(frozen=True)
class StmtResult:
    setl_optins: str
    stmt_rslt: str
    stmt_rslt_dscr: str

    @property
    def balanced(self) -> bool:
        return self.stmt_rslt == "0"


def parse_totals(output: dict[str, Any], name: str = "stmtinfo") -> StmtResult:
    """``output.stmtinfo`` (a list of one is accepted). No ``stmt_rslt`` is unreadable."""
    d = as_object(node(output, name), name)
    rslt = text(d, "stmt_rslt")
    if not rslt:
        raise GatewayProtocolError("The 3201 answer has no stmt_rslt.", infno="3201")
    return StmtResult(setl_optins=text(d, "setl_optins"), stmt_rslt=rslt, stmt_rslt_dscr=text(d, "stmt_rslt_dscr"))


# -- the detail file and 9101 ---------------------------------------------------------------------------------------
def detail_text(rows: Iterable[DetailRow]) -> bytes:
    """The detail file's bytes: UTF-8, CRLF after every row, no header."""
    return "".join(r.line() + "\r\n" for r in rows).encode("utf-8")


def zipped(inner_name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(inner_name, date_time=(2000, 1, 1, 0, 0, 0)), content,
                    compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def detail_file_name(fixmedins_code: str, day: date, setl_optins: str) -> str:
    """The text file's name inside the zip; the upload is named ``{this}.zip``."""
    return f"{fixmedins_code}_{day:%Y%m%d}_{setl_optins}_3202.txt"


def upload_input(profile: GatewayProfile, *, content: bytes, filename: str, fixmedins_code: str) -> dict[str, Any]:
    """9101: the zip in ``in`` as the profile's ``file_transport`` says (base64 string or byte array)."""
    data: Any = (base64.b64encode(content).decode("ascii") if profile.reconcile.file_transport == "base64"
                 else list(content))
    return {"fsUploadIn": {"in": data, "filename": filename, "fixmedins_code": fixmedins_code}}


@dataclass(frozen=True)
class FileRef:
    """A file at the gateway: 9101's stored upload, or 3202's result file."""
    file_qury_no: str
    filename: str
    dld_endtime: str = ""


def parse_file_ref(output: dict[str, Any], name: str = "", infno: str = "9101") -> FileRef:
    """9101 answers flat under ``output`` (``name`` ""); 3202 under ``fileinfo``. No ``file_qury_no`` is
    unreadable."""
    d = as_object(node(output, name), name or "output")
    ref = FileRef(file_qury_no=text(d, "file_qury_no"), filename=text(d, "filename"),
                  dld_endtime=text(d, "dld_endtime"))
    if not ref.file_qury_no:
        raise GatewayProtocolError(f"The {infno} answer has no file_qury_no.", infno=infno)
    return ref


# -- 3202 -----------------------------------------------------------------------------------------------------------
def detail_input(profile: GatewayProfile, *, setl_optins: str, file_qury_no: str, begin: date, end: date,
                 rows: Iterable[DetailRow], clr_type: str = "") -> dict[str, Any]:
    """3202 with the totals of the file's live rows (a refunded settlement is in the file, flagged, but not in the
    totals); ``cash_payamt`` is the insurer's own cash figure of each settlement, summed."""
    live = [r for r in rows if not r.refunded]
    data: dict[str, Any] = {
        "setl_optins": setl_optins, "file_qury_no": file_qury_no, "stmt_begndate": begin.isoformat(),
        "stmt_enddate": end.isoformat(),
        "medfee_sumamt": fen(sum((r.medfee_sumamt for r in live), Decimal(0))),
        "fund_pay_sumamt": fen(sum((r.fund_pay_sumamt for r in live), Decimal(0))),
        "cash_payamt": fen(sum((r.psn_cash_pay for r in live), Decimal(0))), "fixmedins_setl_cnt": len(live)}
    if profile.reconcile.clr_type_on_3202 and clr_type:
        data["clr_type"] = clr_type
    return {"data": data}


def download_input(ref: FileRef, fixmedins_code: str) -> dict[str, Any]:
    return {"fsDownloadIn": {"file_qury_no": ref.file_qury_no, "filename": ref.filename,
                             "fixmedins_code": fixmedins_code}}


# -- 9102 and the result file ---------------------------------------------------------------------------------------
def read_download(content: bytes, content_type: str = "", *, infno: str = "9102", msgid: str = "") -> bytes:
    """The 9102 HTTP body: the zip's bytes, or — when the body is a JSON envelope — the insurer's refusal
    (``GatewayRefused``). An envelope that says infcode 0 without a file, or any other body, is unreadable."""
    if content.startswith(b"PK"):
        if len(content) > MAX_RESULT_BYTES:
            raise GatewayProtocolError("The result file is too large.", infno=infno, msgid=msgid)
        return content
    try:
        raw = json.loads(decode_body(content, content_type))
    except ValueError:
        raise GatewayProtocolError("The 9102 answer is neither a zip nor an envelope.", infno=infno,
                                   msgid=msgid) from None
    answer = parse_answer(raw, infno=infno, msgid=msgid)
    if answer.infcode != 0:
        raise GatewayRefused(answer.infcode, answer.err_msg, answer, infno=infno, msgid=msgid)
    raise GatewayProtocolError("The 9102 answer is an envelope without the file.", infno=infno, msgid=msgid)


@dataclass(frozen=True)
class ResultRow:
    """One row of the result file: the centre's view of a settlement and its verdict."""
    setl_id: str
    stmt_rslt: str
    psn_no: str = ""
    mdtrt_id: str = ""
    msgid: str = ""
    refd_setl_flag: str = ""
    memo: str = ""
    medfee_sumamt: Decimal | None = None
    fund_pay_sumamt: Decimal | None = None
    acct_pay: Decimal | None = None

    @property
    def differs(self) -> bool:
        return self.stmt_rslt != "0"

    @property
    def verdict(self) -> str:
        return STMT_RSLT.get(self.stmt_rslt, f"code_{self.stmt_rslt}")


_MONEY_COLUMNS = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")


def read_result(zip_bytes: bytes, columns: list[str], inner_name: str = "result.txt") -> list[ResultRow]:
    """The rows of the result zip (``inner_name``, else its only ``.txt``). Tab-separated, UTF-8 (GB18030 read
    too), ``null`` or empty for no value; a row with too few columns or an unreadable amount is unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
            names = zf.namelist()
            name = inner_name if inner_name in names else next((n for n in names if n.lower().endswith(".txt")),
                                                               None)
            if name is None:
                raise GatewayProtocolError("The result zip holds no text file.", infno="9102")
            if zf.getinfo(name).file_size > MAX_RESULT_BYTES:
                raise GatewayProtocolError("The result file is too large.", infno="9102")
            data = zf.read(name)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
        raise GatewayProtocolError("The result file is not a readable zip.", infno="9102") from None
    body = decode_body(data)
    rows = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) < len(columns):
            raise GatewayProtocolError(f"Result row {number} has {len(cells)} columns, not {len(columns)}.",
                                       infno="9102")
        values = {col: ("" if cells[i].lower() == "null" else cells[i]) for i, col in enumerate(columns)}
        amounts = {k: (money(values[k]) if values.get(k) else None) for k in _MONEY_COLUMNS if k in values}
        rows.append(ResultRow(setl_id=values["setl_id"], stmt_rslt=values["stmt_rslt"],
                              psn_no=values.get("psn_no", ""), mdtrt_id=values.get("mdtrt_id", ""),
                              msgid=values.get("msgid", ""), refd_setl_flag=values.get("refd_setl_flag", ""),
                              memo=values.get("memo", ""), **amounts))
    return rows


def result_text(rows: Iterable[ResultRow], columns: list[str]) -> bytes:
    """A result file as a gateway writes it (the sandbox plays 9102 with this)."""
    out = []
    for r in rows:
        cells = []
        for col in columns:
            value = getattr(r, col, "")
            if isinstance(value, Decimal):
                value = f"{fen(value):.2f}"
            cells.append("null" if value in ("", None) else str(value))
        out.append("\t".join(cells) + "\r\n")
    return "".join(out).encode("utf-8")


def read_detail(zip_bytes: bytes) -> list[DetailRow]:
    """The detail rows of an uploaded zip (the sandbox reads 9101 uploads with this). Seven columns each."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1 or zf.getinfo(names[0]).file_size > MAX_RESULT_BYTES:
                raise ValueError("the detail zip must hold exactly one file")
            body = zf.read(names[0]).decode("utf-8")
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError, UnicodeDecodeError):
        raise ValueError("not a readable zip of UTF-8 text") from None
    rows = []
    for number, line in enumerate(body.split("\r\n"), start=1):
        if not line:
            continue
        cells = line.split("\t")
        if len(cells) != len(DETAIL_COLUMNS):
            raise ValueError(f"row {number} has {len(cells)} columns, not {len(DETAIL_COLUMNS)}")
        try:
            amounts = [Decimal(c) for c in cells[3:6]]
        except ArithmeticError:
            raise ValueError(f"row {number}: an amount is not a number") from None
        if not all(a.is_finite() for a in amounts):
            raise ValueError(f"row {number}: an amount is not a number")
        if cells[6] not in ("0", "1"):
            raise ValueError(f"row {number}: refd_setl_flag must be 0 or 1")
        rows.append(DetailRow(setl_id=cells[0], mdtrt_id=cells[1], psn_no=cells[2], medfee_sumamt=amounts[0],
                              fund_pay_sumamt=amounts[1], acct_pay=amounts[2],
                              psn_cash_pay=amounts[0] - amounts[1] - amounts[2], refunded=cells[6] == "1"))
    return rows
