"""Sandbox handlers for the sale reports: 【3505】 (one ``selinfo`` object), 【3505A】 (``selinfoDetail[]``, all items
or none) and 【3506】 the return (docs/reconciliation.md, "Uploads").

The gateway's intake (intake.py) has already refused a message whose node, shape or required fields do not match
the active profile. Here the insurer judges the content, and answers the way real gateways do, in two ways:

- ``infcode -1`` for a pack code already sold and not returned ("药品追溯码…已销售，不能重复销售") — the text a
  pharmacy must not retry blindly (the national profile's ``[uploads] permanent_patterns`` names it);
- ``infcode 0`` with ``output.result{retRslt: "0", msgRslt}`` for a business refusal of the content: a settlement
  that does not exist or was cancelled, a count that does not match the codes, a pack past its expiry or produced
  after the sale, an item without codes, a return of codes never sold. Accepted: ``retRslt`` "1".

A 拆零 item (``trdn_flag`` "1") may repeat a code that was itself sold split until the pack is used up *(sandbox
rule)*. A return releases its codes. Accepted messages are kept by msgid (a resend answers the first result) and
listed in ``GET /sandbox/ledger`` ``uploads``.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.nhsa.uploads import item_codes
from adapters.sandbox.books import Books, Processed
from adapters.sandbox.messages import Message, Refusal, handles, text

ACCEPTED = {"result": {"retRslt": "1", "msgRslt": "受理成功"}}


def refused(reason: str) -> dict[str, Any]:
    return {"result": {"retRslt": "0", "msgRslt": reason}}


def _items(msg: Message) -> list[dict[str, Any]]:
    batch = msg.input.get("selinfoDetail")
    if batch is not None:
        if not isinstance(batch, list) or not batch or not all(isinstance(i, dict) for i in batch):
            raise Refusal("节点[selinfoDetail]应为非空列表")
        return batch
    item = msg.input.get("selinfo")
    if not isinstance(item, dict):
        raise Refusal("节点[selinfo]应为对象（每条报文一条销售明细）")
    return [item]


def _number(item: dict[str, Any], key: str) -> Decimal:
    try:
        value = Decimal(str(item.get(key)).strip())
    except (InvalidOperation, ValueError):
        raise Refusal(f"参数[{key}]不是有效的数值") from None
    if not value.is_finite() or value <= 0 or value >= 100000:
        raise Refusal(f"参数[{key}]数值不正确")
    return value


def _day(item: dict[str, Any], key: str) -> date | None:
    value = text(item, key)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise Refusal(f"参数[{key}]日期格式应为yyyy-MM-dd") from None


def _judge_sale(books: Books, msg: Message, item: dict[str, Any], n: int) -> str | None:
    """Why the insurer refuses this item's content (retRslt 0), or None."""
    where = f"第{n}条明细（{text(item, 'med_list_codg')}）"
    codes = item_codes(item)
    if not codes:
        return f"{where}：未上传药品追溯码[drugtracinfo]"
    count = _number(item, "sel_retn_cnt")
    if text(item, "trdn_flag") != "1" and count != len(codes):
        return f"{where}：销售数量{count.normalize()}与追溯码数量{len(codes)}不一致"
    sold, made, expires = _day(item, "sel_retn_time"), _day(item, "manu_date"), _day(item, "expy_end")
    if sold and made and made > sold:
        return f"{where}：生产日期{made}晚于销售时间"
    if sold and expires and expires < sold:
        return f"{where}：药品已于{expires}过期，不能销售"
    setl_id = text(item, "setl_id")
    if setl_id or text(item, "mdtrt_setl_type") == "1":
        s = books.settlements.get(setl_id)
        if s is None or s.state != "settled" or s.fixmedins_code != msg.field("fixmedins_code"):
            return f"{where}：结算ID[{setl_id}]不存在或已撤销"
    return None


def _check_codes(books: Books, items: list[dict[str, Any]]) -> None:
    in_message: set[str] = set()
    for item in items:
        split = text(item, "trdn_flag") == "1"
        for code in item_codes(item):
            sold = books.sold_codes.get(code)
            repeat = code in in_message
            if (sold or repeat) and not (split and (sold is None or sold["split"])):
                raise Refusal(f"药品追溯码{code}已销售，不能重复销售")
            if not split:
                in_message.add(code)


@handles("3505")
def sale_upload(books: Books, msg: Message) -> dict[str, Any]:
    items = _items(msg)
    _check_codes(books, items)
    reasons = [r for n, item in enumerate(items, start=1) if (r := _judge_sale(books, msg, item, n))]
    if reasons:
        return refused("；".join(reasons))      # not kept: a corrected resend is judged again
    for item in items:
        split = text(item, "trdn_flag") == "1"
        for code in item_codes(item):
            sold = books.sold_codes.setdefault(code, {"count": 0, "split": split, "msgid": msg.msgid})
            sold["count"] += 1
    codes = [c for item in items for c in item_codes(item)]
    books.uploads.append({"infno": getattr(msg, "wire_infno", "") or "3505", "msgid": msg.msgid, "codes": codes,
                          "setl_id": text(items[0], "setl_id"), "items": len(items),
                          "fixmedins_code": msg.field("fixmedins_code"),
                          "lots": sorted({text(i, "manu_lotnum") for i in items}),
                          "phar_name": text(items[0], "phar_name")})
    books.processed[msg.msgid] = Processed(msg.msgid, "3505", ACCEPTED, codes=tuple(codes))
    return ACCEPTED


@handles("3506")
def sale_return(books: Books, msg: Message) -> dict[str, Any]:
    item = _items(msg)[0]
    codes = item_codes(item)
    if not codes:
        return refused("退货明细未上传药品追溯码[drugtracinfo]")
    never = [c for c in codes if c not in books.sold_codes]
    if never:
        return refused(f"药品追溯码{never[0]}无销售记录，不能退货")
    for code in codes:
        sold = books.sold_codes[code]
        sold["count"] -= 1
        if sold["count"] <= 0:
            del books.sold_codes[code]
    # the return may name the cancellation's setl_id (2103 answers its own): list it under the original sale's
    setl_id = text(item, "setl_id")
    original = next((s.setl_id for s in books.settlements.values() if setl_id and s.cancel_setl_id == setl_id),
                    setl_id)
    books.uploads.append({"infno": "3506", "msgid": msg.msgid, "codes": codes, "setl_id": original,
                          "cancel_setl_id": setl_id if original != setl_id else "",
                          "items": 1, "fixmedins_code": msg.field("fixmedins_code"),
                          "medins_prod_sel_no": text(item, "medins_prod_sel_no")})
    books.processed[msg.msgid] = Processed(msg.msgid, "3506", ACCEPTED, codes=tuple(codes))
    return ACCEPTED
