"""What every sandbox transaction handler shares: the incoming message, the refusal, the handler registry.

A handler takes ``(books, message)`` and returns the ``output`` of the answer envelope as Python values — Decimal
for money, None for an empty field, None for "no output" — or raises ``Refusal`` with the Chinese ``err_msg`` a real
gateway would give (infcode -1). center.py renders the output the way the active answer variants say; handlers
never see variants. Handlers run under ``books.lock``, after intake.py accepted the envelope and the input.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from collections.abc import Callable

from adapters.nhsa.profile import GatewayProfile, MessageSpec
from adapters.sandbox.books import Books


class Refusal(Exception):
    """A gateway refusal. ``minimal``: answer the bare error envelope some gateways send for a message they cannot
    route at all (``{"type":"error","infcode":-1,"err_msg":…}``, no output, ids or times)."""

    def __init__(self, err_msg: str, infcode: int = -1, *, minimal: bool = False):
        super().__init__(err_msg)
        self.err_msg = err_msg
        self.infcode = infcode
        self.minimal = minimal


@dataclass
class Message:
    infno: str          # the logical transaction ("3505" for a 3505A), the handler's key
    msgid: str
    envelope: dict[str, Any]
    wire_infno: str = ""
    path: str = ""
    profile: GatewayProfile | None = None

    @property
    def spec(self) -> MessageSpec | None:
        return self.profile.message(self.wire_infno or self.infno) if self.profile is not None else None

    @property
    def input(self) -> dict[str, Any]:
        value = self.envelope.get("input")
        return value if isinstance(value, dict) else {}

    @property
    def data(self) -> dict[str, Any]:
        """The input's head node: the profile's node for this transaction (``druginfo``, ``signIn``, …), else
        ``data``; {} when it is not an object."""
        spec = self.spec
        value = self.input.get(spec.node if spec is not None else "data")
        if value is None and spec is not None:
            value = self.input.get("data")
        return value if isinstance(value, dict) else {}

    def rows(self, name: str) -> list[dict[str, Any]]:
        """A list node of the input ("drugdetail", "selinfo"); a single object counts as a list of one."""
        value = self.input.get(name)
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            if not all(isinstance(v, dict) for v in value):
                raise Refusal(f"参数[{name}]格式不正确")
            return value
        return []

    def field(self, name: str) -> str:
        value = self.envelope.get(name)
        return "" if value is None else str(value)


Handler = Callable[[Books, Message], "dict[str, Any] | None"]
HANDLERS: dict[str, Handler] = {}
#: Transactions that change the books: a repeated msgid answers the first result again instead of re-running.
COMMITTING = {"2102", "2103", "2601", "3505", "3506", "7204", "7206"}
#: Transactions whose success answer says ``err_msg: "success"`` (as a Zhejiang gateway answers 9001/9002).
SAYS_SUCCESS = {"9001", "9002"}


def handles(infno: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[infno] = fn
        return fn
    return register


def need(d: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = d.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise Refusal(f"参数[{key}]不能为空")


def text(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    if isinstance(value, (dict, list)):
        raise Refusal(f"参数[{key}]格式不正确")
    return "" if value is None else str(value).strip()


def amount(d: dict[str, Any], key: str, *, positive: bool = False) -> Decimal:
    need(d, key)
    value = d[key]
    try:
        if isinstance(value, (bool, dict, list)):
            raise InvalidOperation
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Refusal(f"参数[{key}]不是有效的数值") from None
    if not number.is_finite() or number < 0 or abs(number) >= Decimal("1e12") or (positive and number == 0):
        raise Refusal(f"参数[{key}]必须{'大于零' if positive else '不小于零'}")
    return number
