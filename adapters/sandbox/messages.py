"""What every sandbox transaction handler shares: the incoming message, the refusal, the handler registry.

A handler takes ``(books, message)`` and returns the ``output`` of the answer envelope, or raises ``Refusal`` with
the Chinese ``err_msg`` a real gateway would give (infcode -1). Handlers run under ``books.lock``.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from adapters.sandbox.books import Books


class Refusal(Exception):
    def __init__(self, err_msg: str, infcode: int = -1):
        super().__init__(err_msg)
        self.err_msg = err_msg
        self.infcode = infcode


@dataclass
class Message:
    infno: str  # the 4-digit number, provincial suffix stripped
    msgid: str
    envelope: dict[str, Any]

    @property
    def input(self) -> dict[str, Any]:
        value = self.envelope.get("input")
        return value if isinstance(value, dict) else {}

    @property
    def data(self) -> dict[str, Any]:
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


Handler = Callable[[Books, Message], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
#: Transactions that change the books: a repeated msgid answers the first result again instead of re-running.
COMMITTING = {"2102", "2103", "2601", "3505", "3506", "7204", "7206"}


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
    return "" if value is None else str(value).strip()


def amount(d: dict[str, Any], key: str, *, positive: bool = False) -> Decimal:
    need(d, key)
    try:
        value = Decimal(str(d[key]).strip())
    except (InvalidOperation, ValueError):
        raise Refusal(f"参数[{key}]不是有效的数值") from None
    if not value.is_finite() or value < 0 or (positive and value == 0):
        raise Refusal(f"参数[{key}]必须{'大于零' if positive else '不小于零'}")
    return value
