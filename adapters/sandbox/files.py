"""Sandbox handlers for the gateway's file service: 【9101】 upload and 【9102】 download (docs/reconciliation.md).

9101 takes ``fsUploadIn{in, filename, fixmedins_code}`` — ``in`` the file as base64 (or a JSON array of byte values,
as a profile with ``file_transport = "bytes"`` sends it) — and answers, flat under ``output``, the opaque
``file_qury_no`` it is stored under, its ``filename``, ``fixmedins_code`` and ``dld_endtime``. 3202 (reconcile.py)
reads an uploaded detail file by that number and stores its result file here too. 9102 answers the file's bytes
themselves (``FileAnswer``: center.py writes them as the HTTP body, ``application/zip``), or refuses with an
ordinary envelope. A pharmacy may read only its own files.

The files live beside the books (keyed by the books object), guarded by the books' lock like everything else.
"""
from __future__ import annotations

import base64
import binascii
import secrets
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.sandbox.books import Books
from adapters.sandbox.messages import Message, Refusal, handles, text

MAX_BYTES = 16 * 1024 * 1024
KEEP = timedelta(days=7)


@dataclass(frozen=True)
class StoredFile:
    file_qury_no: str
    filename: str
    fixmedins_code: str
    content: bytes
    kind: str                  # "upload" (9101) or "result" (3202)
    stored_at: datetime

    @property
    def dld_endtime(self) -> str:
        return (self.stored_at + KEEP).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class FileAnswer:
    """A handler's answer that is a file, not an envelope (9102)."""
    content: bytes
    content_type: str = "application/zip"


_FILES: weakref.WeakKeyDictionary[Books, dict[str, StoredFile]] = weakref.WeakKeyDictionary()


def files_of(books: Books) -> dict[str, StoredFile]:
    return _FILES.setdefault(books, {})


def store(books: Books, *, content: bytes, filename: str, fixmedins_code: str, kind: str) -> StoredFile:
    """Keep a file under a new opaque number (shaped like the storage paths real gateways answer)."""
    number = f"M00/00/{books.next_serial() % 256:02X}/{secrets.token_urlsafe(18)}.zip"
    stored = StoredFile(number, filename, fixmedins_code, content, kind, books.now())
    files_of(books)[number] = stored
    return stored


def find(books: Books, number: str, fixmedins_code: str, kind: str) -> StoredFile:
    stored = files_of(books).get(number)
    if stored is None or stored.kind != kind or stored.fixmedins_code != fixmedins_code:
        raise Refusal(f"文件查询号[file_qury_no]{number[:60]}不存在或已过期")
    if books.now() > stored.stored_at + KEEP:
        raise Refusal(f"文件查询号[file_qury_no]{number[:60]}已超过下载截止时间")
    return stored


def _content(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise Refusal("文件内容[in]不是有效的Base64编码") from None
    if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256
                                       for b in value):
        return bytes(value)
    raise Refusal("文件内容[in]格式不正确")


@handles("9101")
def upload(books: Books, msg: Message) -> dict[str, Any]:
    node = msg.input.get("fsUploadIn")
    if not isinstance(node, dict):
        raise Refusal("交易输入缺少节点[fsUploadIn]")
    if text(node, "fixmedins_code") != msg.field("fixmedins_code"):
        raise Refusal("文件所属定点医药机构编号[fixmedins_code]与报文不一致")
    content = _content(node.get("in"))
    if not content.startswith(b"PK") or len(content) > MAX_BYTES:
        raise Refusal("上传文件应为不超过16MB的zip压缩文件")
    stored = store(books, content=content, filename=text(node, "filename"),
                   fixmedins_code=msg.field("fixmedins_code"), kind="upload")
    return {"file_qury_no": stored.file_qury_no, "filename": stored.filename,
            "fixmedins_code": stored.fixmedins_code, "dld_endtime": stored.dld_endtime}


@handles("9102")  # type: ignore[arg-type]  # the one handler whose answer is a file (center.py writes it as is)
def download(books: Books, msg: Message) -> FileAnswer:
    node = msg.input.get("fsDownloadIn")
    if not isinstance(node, dict):
        raise Refusal("交易输入缺少节点[fsDownloadIn]")
    if text(node, "fixmedins_code") != msg.field("fixmedins_code"):
        raise Refusal("文件所属定点医药机构编号[fixmedins_code]与报文不一致")
    stored = find(books, text(node, "file_qury_no"), msg.field("fixmedins_code"), "result")
    if text(node, "filename") != stored.filename:
        raise Refusal(f"文件名[filename]与文件查询号不符，应为{stored.filename}")
    return FileAnswer(stored.content)
