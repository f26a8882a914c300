"""The gateway client's exception tree (STYLE: encode/httpx — one tree, caught at the depth the caller cares about).

The one distinction that matters for money (docs/architecture.md): did the insurer *say no* (nothing moved, the sale may
be retried or corrected) or is the outcome *unknown* (money may have moved; the settlement is in doubt and is resolved
by asking the insurer / 冲正 2601, never by sending a second 2102)?

    GatewayError
    ├── GatewayRefused          infcode != 0: the insurer answered and refused; nothing moved
    ├── GatewayUnreachable      nothing was sent (refused connection, DNS, TLS handshake); safe to retry
    ├── GatewayInputError       the message lacks what the gateway profile requires; nothing was sent
    └── GatewayOutcomeUnknown   the message may have been processed
        ├── GatewayTimeout          no answer within the timeout
        ├── GatewayConnectionLost   the connection broke after the message was sent
        └── GatewayProtocolError    an answer came but it is not a valid envelope

Messages never contain the request body, the answer body or any secret: they end up in logs and POS screens.
"""
from __future__ import annotations

from typing import Any

from adapters.errors import BilingualError


class GatewayError(BilingualError):
    """Base of every gateway failure. ``message`` is short English, ``message_zh`` the pharmacist's Chinese."""

    message = "The insurer gateway call failed."
    message_zh = "医保中心接口调用失败。"

    def __init__(self, message: str | None = None, message_zh: str | None = None, *,
                 infno: str = "", msgid: str = ""):
        self.infno = infno
        self.msgid = msgid
        super().__init__(message, message_zh)

    @property
    def outcome_unknown(self) -> bool:
        """True when money may have moved (the caller must resolve, not resend)."""
        return isinstance(self, GatewayOutcomeUnknown)


class GatewayRefused(GatewayError):
    """The insurer answered with ``infcode != 0``. Carries the insurer's own code and message verbatim."""

    def __init__(self, infcode: int, err_msg: str, answer: Any = None, *, infno: str = "", msgid: str = ""):
        self.infcode = infcode
        self.err_msg = err_msg or ""
        self.answer = answer
        super().__init__(f"The insurer refused the request (infcode {infcode}).",
                         f"医保中心拒绝：{self.err_msg}" if self.err_msg else f"医保中心拒绝（infcode {infcode}）。",
                         infno=infno, msgid=msgid)


class GatewayUnreachable(GatewayError):
    message = "The insurer gateway cannot be reached; nothing was sent."
    message_zh = "无法连接医保中心，交易未发出，未发生扣费，请稍后重试。"


class GatewayInputError(GatewayError):
    """A message that would not pass the gateway's own checks (docs/gateway.md, the profile's ``messages``): it
    lacks a required field, so it is not sent. ``problems`` are the Chinese sentences naming each field."""

    def __init__(self, problems: list[str], *, infno: str = "", msgid: str = ""):
        self.problems = list(problems)
        super().__init__(f"The message {infno} lacks required fields: {'; '.join(self.problems)[:300]}",
                         f"发往医保中心的报文缺少必填项：{'；'.join(self.problems)[:300]}", infno=infno, msgid=msgid)


class GatewayOutcomeUnknown(GatewayError):
    message = "The insurer's answer was lost; the outcome is unknown."
    message_zh = "未收到医保中心的有效应答，交易结果未知，请勿重复结算，系统将自动核实。"


class GatewayTimeout(GatewayOutcomeUnknown):
    message = "The insurer did not answer in time; the outcome is unknown."
    message_zh = "医保中心应答超时，交易结果未知，请勿重复结算，系统将自动核实。"


class GatewayConnectionLost(GatewayOutcomeUnknown):
    message = "The connection to the insurer broke after sending; the outcome is unknown."
    message_zh = "发送后与医保中心的连接中断，交易结果未知，请勿重复结算，系统将自动核实。"


class GatewayProtocolError(GatewayOutcomeUnknown):
    message = "The insurer's answer is not a valid envelope; the outcome is unknown."
    message_zh = "医保中心返回的报文无法识别，交易结果未知，请勿重复结算，系统将自动核实。"
