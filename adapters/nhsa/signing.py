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
    return hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode()).hexdigest()


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


def hmac_sm3_hex(secret: str, message: bytes) -> str:
    """HMAC (RFC 2104) over SM3 (block size 64 bytes), upper-case hex — gmssl gives SM3 itself."""
    from gmssl import func, sm3

    def digest(data: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(data)))

    key = secret.encode("utf-8")
    if len(key) > 64:
        key = digest(key)
    key = key.ljust(64, b"\0")
    inner = digest(bytes(b ^ 0x36 for b in key) + message)
    return digest(bytes(b ^ 0x5C for b in key) + inner).hex().upper()


def sm3_ca_headers(institution: str, secret: str, body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    """Zhejiang's gateway headers (docs/gateway.md "Authentication"): ``x-ca-key`` = the institution code,
    ``x-ca-signature`` = ``"{unix seconds}:" + HMAC-SM3(secret, "{unix seconds}\\n" + the exact body bytes sent)``."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    mac = hmac_sm3_hex(secret, ts.encode() + b"\n" + body)
    return {"x-ca-key": institution, "x-ca-signature": f"{ts}:{mac}"}


def apikey_headers(key: str) -> dict[str, str]:
    """A plain API key header, as some provinces' front ends take."""
    return {"apikey": key}
