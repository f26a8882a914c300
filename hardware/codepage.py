"""Receipt printers' character sets: which code pages rxlane can print in, and how a slip's text becomes their bytes.

A Chinese counter's thermal printer takes one of three kinds of text:

* **GB18030** (Chinese firmware after ``FS &``): every Unicode character, rare ones as four bytes.
* **GBK** (older Chinese firmware, also after ``FS &``): two bytes per character; a character outside GBK (a rare
  name character such as 䶮 or 𠮷) cannot be sent. Sending its four-byte GB18030 form makes a GBK printer print two
  wrong characters and shifts the line, so it is printed as a visible stand-in, ``□``, instead.
* **UTF-8** (newer firmware): selected with ``FS ( C`` function 48, m = 2 (ESC/POS "select character encoding
  system"), then UTF-8 bytes.

Any other name must be a single-byte ESC/POS code page that python-escpos knows for its default profile (``CP437``,
``CP1252`` …); Chinese text then prints as ``?``. An unknown name is refused when the configuration is checked and
at start (hardware/device.py), never at the first print.
"""
from __future__ import annotations

import functools

__all__ = ["STANDIN", "CHINESE", "canonical_code_page", "encode_text", "escpos_code_pages"]

#: Printed for a character the printer's code page lacks: visible, and itself in GB2312 (bytes A1 F5).
STANDIN = "□"
#: Chinese double-byte code pages (ESC/POS Chinese mode, ``FS &``) and the codec each prints with.
CHINESE = {"gb18030": "gb18030", "gbk": "gbk", "gb2312": "gbk", "cp936": "gbk"}
UTF8 = "utf-8"
_ALIASES = {"utf8": UTF8, "utf-8": UTF8, "gb-18030": "gb18030", "gb_18030": "gb18030"}


@functools.cache
def escpos_code_pages() -> frozenset[str]:
    """The single-byte code pages python-escpos can switch to on its default printer profile."""
    from escpos.printer import Dummy   # reads escpos's capability file: only when a western code page is named

    return frozenset(name for name in Dummy().magic.encoder.codepages if name != "Unknown")


def canonical_code_page(name: str) -> str:
    """``name`` as rxlane prints with it: ``gb18030``, ``gbk``, ``utf-8`` or an ESC/POS code page in its own
    spelling (``CP437``); ``""`` means gb18030. ``ValueError`` names what is supported."""
    if not isinstance(name, str):
        raise ValueError("must be a string")
    key = name.strip().lower()
    if not key:
        return "gb18030"
    key = _ALIASES.get(key, key)
    if key in CHINESE:
        return "gb18030" if CHINESE[key] == "gb18030" else "gbk"
    if key == UTF8:
        return UTF8
    pages = escpos_code_pages()
    for page in pages:
        if page.lower() == key:
            return page
    raise ValueError(f"unknown code page {name!r}: use gb18030, gbk, utf-8 or an ESC/POS code page such as CP437 "
                     f"({', '.join(sorted(pages)[:6])}, …)")


def encode_text(text: str, code_page: str) -> bytes:
    """Bytes of ``text`` for a printer in a Chinese or UTF-8 code page (``canonical_code_page`` spelling)."""
    if code_page == UTF8:
        return text.encode("utf-8")
    if code_page == "gbk":
        try:
            return text.encode("gbk")
        except UnicodeEncodeError:
            return "".join(ch if _in_gbk(ch) else STANDIN for ch in text).encode("gbk")
    return text.encode("gb18030", errors="replace")


def _in_gbk(ch: str) -> bool:
    try:
        ch.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True
