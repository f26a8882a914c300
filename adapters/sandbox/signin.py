"""【9001】签到 / 【9002】签退 at the sandbox gateway (docs/gateway.md 9001).

9001 issues a ``sign_no`` to the institution for the day; intake.py refuses every later message that does not carry
one issued today and still valid. 9002 ends that sign-in; a reset (``POST /sandbox/reset``) or a
``sign_in_expired`` fault ends all of them, as a gateway restart or a session time-out would.
"""
from __future__ import annotations

from typing import Any

from adapters.sandbox.books import Books
from adapters.sandbox.messages import Message, Refusal, handles, text

TIME = "%Y-%m-%d %H:%M:%S"


@handles("9001")
def sign_in(books: Books, msg: Message) -> dict[str, Any]:
    info = msg.data
    now = books.now()
    sign_no = f"{now:%m%d}{books.next_serial():05d}"
    books.sign_ins.append({"sign_no": sign_no, "fixmedins_code": msg.field("fixmedins_code"),
                           "opter_no": text(info, "opter_no"), "mac": text(info, "mac"), "ip": text(info, "ip"),
                           "sign_time": now.strftime(TIME), "day": now.date(), "valid": True})
    return {"signinoutb": {"sign_no": sign_no, "sign_time": now.strftime(TIME)}}


@handles("9002")
def sign_out(books: Books, msg: Message) -> dict[str, Any]:
    sign_no, code = text(msg.data, "sign_no"), msg.field("fixmedins_code")
    held = [s for s in books.sign_ins if s["sign_no"] == sign_no and s["fixmedins_code"] == code and s["valid"]]
    if not held:
        raise Refusal(f"签到流水号[sign_no]{sign_no}不存在或已签退")
    for s in held:
        s["valid"] = False
    return {"signoutoutb": {"sign_time": books.now().strftime(TIME)}}
