"""【9001】签到 / 【9002】签退 (docs/gateway.md 9001): the terminal signs in once a day; every later envelope carries
the ``sign_no`` of the answer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.nhsa.reading import as_object, node, text


def sign_in_input(opter_no: str, mac: str, ip: str) -> dict[str, Any]:
    """Input node ``signIn{opter_no, mac, ip}``: the operator and the MAC and IP of the interface that reaches the
    gateway (all three required)."""
    return {"signIn": {"opter_no": opter_no, "mac": mac, "ip": ip}}


def sign_out_input(sign_no: str, opter_no: str) -> dict[str, Any]:
    return {"signOut": {"sign_no": sign_no, "opter_no": opter_no}}


@dataclass(frozen=True)
class SignIn:
    sign_no: str
    sign_time: str


def parse_sign_in(output: dict[str, Any]) -> SignIn:
    """Output node ``signinoutb{sign_no, sign_time}``."""
    info = as_object(node(output, "signinoutb"), "signinoutb")
    return SignIn(sign_no=text(info, "sign_no"), sign_time=text(info, "sign_time"))
