"""What every adapter's error has in common: an English ``message`` for logs and a Chinese ``message_zh`` for the
pharmacist, each a class default that one raise may override.

    class GatewayTimeout(GatewayOutcomeUnknown):
        message = "The insurer did not answer in time; the outcome is unknown."
        message_zh = "医保中心应答超时，交易结果未知，请勿重复结算，系统将自动核实。"

    GatewayTimeout()                                  # the class's words
    FrontEndBadAnswer("The answer is too long.", infno="2102")     # its own English, the class's Chinese

Used by the gateway's tree (adapters/nhsa/errors.py), the vendor-library worker (adapters/isolated.py) and the
e-voucher SDK (adapters/evoucher/sdk.py). ``str(error)`` is the English message.
"""
from __future__ import annotations


class BilingualError(Exception):
    """An error with an English ``message`` and a Chinese ``message_zh``; a subclass sets both as class defaults,
    an empty or absent argument keeps the default."""

    message: str
    message_zh: str

    def __init__(self, message: str | None = None, message_zh: str | None = None):
        if message:
            self.message = message
        if message_zh:
            self.message_zh = message_zh
        super().__init__(self.message)
