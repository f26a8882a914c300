"""PaaS gateway signing headers (docs/gateway.md "Transport"): ``x-tif-*``, on where the province uses the gateway.

``x-tif-signature`` = lowercase hex SHA-256 of ``timestamp + secret + nonce + timestamp`` (UTF-8). The secret is an
argument only; it is never stored here, logged, or put in an exception message.

These headers authenticate the caller to the PaaS gateway; the message's own SM3/SM2 signature (``signtype``,
``cainfo``) and SM4 body encryption, which some provinces require as well, are in smcrypto.py.
"""
from __future__ import annotations

import hashlib
import secrets
import time


def signature(timestamp: str, secret: str, nonce: str) -> str:
    return hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode("utf-8")).hexdigest()


def new_nonce() -> str:
    """32 random hex chars; gateways reject a replayed (timestamp, nonce) pair, so it must not repeat."""
    return secrets.token_hex(16)


def sign_headers(paasid: str, secret: str, *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four headers for one request. ``timestamp``/``nonce`` are injectable for tests."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    nonce = nonce if nonce is not None else new_nonce()
    return {
        "x-tif-paasid": paasid,
        "x-tif-timestamp": ts,
        "x-tif-nonce": nonce,
        "x-tif-signature": signature(ts, secret, nonce),
    }
