"""The settlement slip (结算单): the same rows rendered as text, as a PNG, and as ESC/POS bytes.

Pure rendering: a plain `sale` dict in, bytes or text out — no device, no clock, no ledger. The money is
already two-decimal strings; the only arithmetic is 大额或大病 = hifob_pay + hifmi_pay (Decimal). The slip
shows who paid what in the insurer's split (统筹 / 大额或大病 / 个人账户 / 现金, docs/gateway.md setlinfo).

Privacy (docs/security.md): the slip is handed across the counter, so it prints only masked names and ID numbers.
It is given masked values; if an unmasked one slips through, it is masked here again rather than printed.

`sale` = {pharmacy: {name, code}, time, patient: {name_masked, certno_masked, insutype}, setl_id, hi_rxno,
          lines: [{name, spec, qty, price, line_total, trace_codes: [...]}],
          split: {medfee_sumamt, hifp_pay, hifob_pay, hifmi_pay, acct_pay, psn_cash_pay, fund_pay_sumamt, balc},
          state?: "settled" | "refunded", refund?: {refunded_at, reason}}

A refunded sale's slip says so at the top and the bottom (已退费), with the time, the reason and what goes back
to the patient: the cash paid and the account part (which the insurer returns to the personal account).
"""
from __future__ import annotations

import functools
import io
import shutil
import subprocess
import unicodedata
import warnings
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from adapters.nhsa.money import wire
from hardware.codepage import CHINESE, UTF8, canonical_code_page, encode_text

INSUTYPE_NAMES = {
    "310": "职工基本医疗保险",
    "320": "公务员医疗补助",
    "330": "大额医疗费用补助",
    "340": "离休人员医疗保障",
    "390": "城乡居民基本医疗保险",
    "391": "城镇居民基本医疗保险",
    "392": "城乡居民大病医疗保险",
}
# ESC/POS: ESC @ (initialise), FS & (Chinese character mode: GB18030/GBK double-byte text on Chinese firmware),
# FS . (Chinese mode off), FS ( C fn=48 m=2 (select the UTF-8 encoding system)
ESC_INIT = b"\x1b@"
FS_CHINESE_ON = b"\x1c&"
FS_CHINESE_OFF = b"\x1c."
FS_UTF8 = b"\x1c(C\x02\x00\x30\x02"
REFUNDED_MARK = "已退费"
CUT_FULL = b"\x1dV\x00"
_COMMON_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


@dataclass(frozen=True)
class Row:
    left: str
    right: str = ""
    style: str = "normal"  # normal | title | center | rule


# ---- the rows ------------------------------------------------------------------------------------------

def _money(value: Any) -> str:
    if value in (None, ""):
        return "0.00"
    try:
        return wire(value)
    except (InvalidOperation, ValueError):
        return str(value)


def mask_name(value: str) -> str:
    """Already masked (`张*`) stays; a full name becomes `张*` (only the first character stays)."""
    if not value or "*" in value:
        return value or ""
    return value[0] + "*" * (len(value) - 1)


def mask_certno(value: str) -> str:
    """Already masked stays; `360102199001011234` becomes `3601**********1234` (plugin/privacy.py's rule)."""
    if not value or "*" in value:
        return value or ""
    if len(value) <= 8:
        return value[:1] + "*" * (len(value) - 1)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def slip_rows(sale: dict) -> list[Row]:
    pharmacy = sale.get("pharmacy") or {}
    patient = sale.get("patient") or {}
    split = sale.get("split") or {}
    insutype = str(patient.get("insutype") or "")
    refunded = sale.get("state") == "refunded"
    rows = [Row(pharmacy.get("name", ""), style="title"),
            Row("双通道药品医保结算单", style="center")]
    if refunded:
        rows.append(Row(f"*** {REFUNDED_MARK} ***", style="title"))
    rows += [
            Row("机构编码", pharmacy.get("code", "")),
            Row("结算时间", str(sale.get("time", ""))),
            Row("患者", mask_name(str(patient.get("name_masked", "")))),
            Row("证件号码", mask_certno(str(patient.get("certno_masked", "")))),
            Row("险种", f"{INSUTYPE_NAMES.get(insutype, '')}({insutype})" if insutype else ""),
            Row("结算号", str(sale.get("setl_id", "")))]
    if sale.get("hi_rxno"):
        rows.append(Row("处方号", str(sale["hi_rxno"])))
    rows.append(Row("", style="rule"))
    for line in sale.get("lines") or []:
        rows.append(Row(f"{line.get('name', '')} {line.get('spec', '')}".strip()))
        rows.append(Row(f"  {line.get('qty', '')} x {_money(line.get('price'))}", _money(line.get("line_total"))))
        for code in line.get("trace_codes") or []:
            rows.append(Row(f"  追溯码 {code}"))
    rows.append(Row("", style="rule"))
    major = _money(split.get("hifob_pay")) if split.get("hifmi_pay") in (None, "") else \
        _money(Decimal(_money(split.get("hifob_pay"))) + Decimal(_money(split.get("hifmi_pay"))))
    rows += [Row("统筹", _money(split.get("hifp_pay"))),
             Row("大额或大病", major),
             Row("个人账户", _money(split.get("acct_pay"))),
             Row("现金", _money(split.get("psn_cash_pay"))),
             Row("合计", _money(split.get("medfee_sumamt")), style="title")]
    if split.get("fund_pay_sumamt") not in (None, ""):
        rows.append(Row("其中基金支付", _money(split.get("fund_pay_sumamt"))))
    if split.get("balc") not in (None, ""):
        rows.append(Row("个人账户余额", _money(split.get("balc"))))
    if refunded:
        refund = sale.get("refund") or {}
        rows += [Row("", style="rule"), Row(f"{REFUNDED_MARK}（医保结算已撤销）", style="title"),
                 Row("退费时间", str(refund.get("refunded_at") or "")),
                 Row("退还现金", _money(split.get("psn_cash_pay"))),
                 Row("退回个人账户", _money(split.get("acct_pay")))]
        if refund.get("reason"):
            rows.append(Row("退费原因", str(refund["reason"])))
    return rows


# ---- text ----------------------------------------------------------------------------------------------

def display_width(text: str) -> int:
    """Columns on a receipt printer / terminal: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` columns (a narrow printer must not run a drug name off)."""
    lines, line, used = [], "", 0
    for ch in text:
        w = display_width(ch)
        if used + w > width and line:
            lines.append(line)
            line, used = "", 0
        line += ch
        used += w
    return lines + [line] if line or not lines else lines


def _layout(row: Row, width: int) -> str:
    if row.style == "rule":
        return "-" * width
    if row.style in ("title", "center") and not row.right:
        return "\n".join(" " * max(0, (width - display_width(part)) // 2) + part for part in _wrap(row.left, width))
    if not row.right:
        return "\n".join(_wrap(row.left, width))
    gap = width - display_width(row.left) - display_width(row.right)
    if gap < 1:
        right = "\n".join(" " * max(0, width - display_width(part)) + part for part in _wrap(row.right, width))
        return "\n".join(_wrap(row.left, width)) + "\n" + right
    return row.left + " " * gap + row.right


def slip_text(sale: dict, width: int = 42) -> str:
    return "\n".join(_layout(row, width) for row in slip_rows(sale)) + "\n"


# ---- ESC/POS -------------------------------------------------------------------------------------------

def slip_escpos(sale: dict, code_page: str = "gb18030", width: int = 42) -> bytes:
    """ESC/POS bytes in the printer's code page and width: text, a CODE128 of setl_id (GS k), a full cut (GS V).

    python-escpos 3.1 sends GB18030 only for strings holding U+4E00–U+9FA5 and never selects Chinese mode;
    full-width punctuation such as （） alone comes out as "?" (checked against its magicencode.py). So for the
    Chinese and UTF-8 code pages (hardware/codepage.py) the text bytes are written here: FS & then GB18030 or GBK
    (characters outside GBK as □), or FS ( C then UTF-8. Single-byte code pages go through escpos's own code-page
    switching. ``ValueError`` for an unknown code page (the configuration check refuses it first).
    """
    from escpos.printer import Dummy  # python-escpos: layout commands into a buffer, no device

    page = canonical_code_page(code_page)
    printer = Dummy()
    printer._raw(ESC_INIT)
    raw_text = page in CHINESE or page == UTF8
    if page in CHINESE:
        printer._raw(FS_CHINESE_ON)
    elif page == UTF8:
        printer._raw(FS_CHINESE_OFF + FS_UTF8)
    else:
        printer.charcode(page)

    def text(line: str) -> None:
        if raw_text:
            printer._raw(encode_text(line, page))
        else:
            printer.text(line)

    for row in slip_rows(sale):
        if row.style == "title":
            printer.set(align="center" if not row.right else "left", bold=True)
        text(_layout(row, width) + "\n")
        if row.style == "title":
            printer.set(align="left", bold=False)
    setl_id = str(sale.get("setl_id", ""))
    if _barcodable(setl_id):
        # _hw_barcode: the public barcode() prints "Using hardware barcode renderer" to stdout on every call
        printer._hw_barcode("{B" + setl_id, "CODE128", height=80, width=2, pos="BELOW",
                            function_type="B")
        printer.set(align="left")
        text("\n")
    printer.cut()
    return printer.output


# ---- PNG -----------------------------------------------------------------------------------------------

def _barcodable(value: str) -> bool:
    """Code128 set B holds printable ASCII; a settlement id the insurer wrote otherwise is printed as text only."""
    return bool(value) and value.isascii() and value.isprintable()


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> tuple[str, int] | None:
    """(font file, face index) of a Simplified-Chinese-capable font, or None. Prefers Sans SC faces."""
    candidates: list[tuple[int, str, int]] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "--format", "%{file}|%{index}|%{family}\n"],
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for entry in out.splitlines():
            path, _, rest = entry.partition("|")
            index, _, family = rest.partition("|")
            if not path or not index.isdigit():
                continue
            score = (2 if " SC" in family or "SC," in family else 0) + (1 if "Sans" in family else 0) + \
                (1 if "Regular" in path else 0)
            candidates.append((score, path, int(index)))
    if candidates:
        best = max(candidates, key=lambda c: c[0])
        return best[1], best[2]
    for path in _COMMON_CJK_FONTS:
        if Path(path).is_file():
            return path, 0
    return None


def _font(size: int):
    from PIL import ImageFont

    found = find_cjk_font()
    if found:
        try:
            return ImageFont.truetype(found[0], size=size, index=found[1])
        except OSError:
            pass
    warnings.warn("no CJK font found (install fonts-noto-cjk); the PNG slip's Chinese text will not render",
                  RuntimeWarning, stacklevel=3)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _code128_class():
    from barcode.codex import Code128

    class SafeCode128(Code128):
        """python-barcode 0.16 starts in code set C and then folds "start C + switch" into one start code; a
        leading digit pair "99" has the same value as the switch, so "99…" lost two digits (found by decoding
        the slip back). Only fold when the first symbol really is a switch."""

        def _try_to_optimize(self, encoded: list[int]) -> list[int]:
            if self.code[:2].isdigit() and len(self.code) >= 2:
                return encoded
            return super()._try_to_optimize(encoded)

    return SafeCode128


def barcode_image(data: str, module_px: int = 2, height_px: int = 90, quiet_modules: int = 20):
    """Code128 of `data`: python-barcode encodes it, we paint the modules at whole pixels.

    python-barcode's ImageWriter places modules at float millimetre positions, so at 2 px per module its bars
    come out 1, 5 or 9 px wide and some codes (e.g. "990001") no longer decode; a slip barcode that cannot be
    scanned back is worse than none.
    """
    from PIL import Image, ImageDraw

    modules = _code128_class()(data).build()[0]
    image = Image.new("L", ((len(modules) + 2 * quiet_modules) * module_px, height_px), 255)
    draw = ImageDraw.Draw(image)
    for i, bit in enumerate(modules):
        if bit == "1":
            x = (quiet_modules + i) * module_px
            draw.rectangle((x, 0, x + module_px - 1, height_px - 1), fill=0)
    return image


def slip_png(sale: dict, width_px: int = 576) -> bytes:
    """A PNG of the slip (576 px = 80 mm at 203 dpi) with a Code128 of setl_id under the totals."""
    from PIL import Image, ImageDraw

    font_size, margin = 22, 16
    font, bold = _font(font_size), _font(font_size + 4)
    line_h = int(font_size * 1.5)
    rows = slip_rows(sale)
    setl_id = str(sale.get("setl_id", ""))
    code_img = barcode_image(setl_id) if _barcodable(setl_id) else None
    width = max(width_px, (code_img.width + 2 * margin) if code_img else 0)
    height = margin * 2 + line_h * (len(rows) + 2) + (code_img.height + line_h if code_img else 0)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = margin
    for row in rows:
        face = bold if row.style == "title" else font
        if row.style == "rule":
            draw.line((margin, y + line_h // 2, width - margin, y + line_h // 2), fill=0, width=2)
        elif row.style in ("title", "center") and not row.right:
            draw.text(((width - draw.textlength(row.left, font=face)) // 2, y), row.left, font=face, fill=0)
        else:
            draw.text((margin, y), row.left, font=face, fill=0)
            if row.right:
                draw.text((width - margin - draw.textlength(row.right, font=face), y), row.right, font=face, fill=0)
        y += line_h
    if code_img:
        y += line_h // 2
        image.paste(code_img.convert("L"), ((width - code_img.width) // 2, y))
        y += code_img.height + 4
        draw.text(((width - draw.textlength(setl_id, font=font)) // 2, y), setl_id, font=font, fill=0)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
