"""National commercial-crypto (国密) protection of the gateway envelope (docs/gateway.md "Transport", "Request
envelope": ``signtype``, ``cainfo``): an SM3 digest or SM2 signature of the message and an SM4-encrypted body.

Some provinces require it, most do not, so it is off by default and one code path serves all: with every setting
empty ``seal_request`` returns the very body it was given, and the wire is byte-for-byte what it was before.

The wire format *(varies by province; the sandbox mirrors this one)*:

- canonical text of a node: ``canonical_text`` — JSON with sorted keys, no spaces, UTF-8, non-ASCII kept. It is the
  one place to change when a province canonicalises differently.
- ``encrypt_body``: ``input`` (request) and ``output`` (answer) become ``{"encData": base64(SM4-ECB/PKCS7(canonical
  text))}``. An answer whose output arrives in plain text is still read (empty outputs often do).
- ``signtype = "SM3"``: ``cainfo`` = lowercase hex SM3 of the canonical text of ``input`` *as sent* (so after
  encryption: the receiver checks integrity before it decrypts). ``"SM2"``: ``cainfo`` = hex ``r||s`` SM2 signature
  (SM3 with the Z value of the default ID ``1234567812345678``, gmssl's ``sign_with_sm3``) of that same text.
- answers: when the insurer's public key is configured, an answer must carry ``cainfo`` = SM2 signature of the
  canonical text of ``output`` as sent (``"null"`` for a refusal without output) — *(sandbox)*.

Two gmssl 3.2 sharp edges are guarded here: its SM2 nonce comes from ``random.choice`` (a predictable nonce leaks
the private key, so we pass one from ``secrets``), and ``CryptSM2`` strips a public key with ``lstrip("04")``
(wrong for keys whose x starts with 0 or 4, so we set the normalised key ourselves). Its PKCS7 unpadding does not
check the padding, so we pad and unpad here: a wrong key is a clean error, not garbage.

Key material is held only in private attributes, never in ``repr``, logs or exception messages; an
``SmCryptoError`` says what failed, never with which key or on what text.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from pathlib import Path
from typing import Any, Literal

from gmssl import sm2, sm3, sm4

from adapters.nhsa.jsontext import dumps

__all__ = ["SIGNTYPES", "ENC_FIELD", "SmCryptoError", "SmCrypto", "canonical_text", "sm3_hex", "sm2_public_key_of",
           "sm2_sign", "sm2_verify", "Sm4Cipher", "read_key_file", "new_sm2_private_key", "crypto_for"]

SIGNTYPES = ("", "SM3", "SM2")
ENC_FIELD = "encData"
_CURVE = sm2.default_ecc_table
_N = int(_CURVE["n"], 16)
_P = int(_CURVE["p"], 16)
_A = int(_CURVE["a"], 16)
_B = int(_CURVE["b"], 16)
_NO_PADDING = 2  # any gmssl padding_mode other than PKCS7 (0) / ZERO (1): we pad ourselves
Role = Literal["pharmacy", "insurer"]


class SmCryptoError(ValueError):
    """A message that fails verification or decryption. Never carries key material or message text."""

    def __init__(self, message: str, message_zh: str):
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh


def canonical_text(node: Any) -> str:
    """The text that is digested, signed and encrypted *(varies)*: sorted keys, no spaces, non-ASCII kept; exact
    decimals written as numbers (adapters/nhsa/jsontext.py)."""
    return dumps(node, sort_keys=True, compact=True)


def sm3_hex(text: str) -> str:
    return sm3.sm3_hash(list(text.encode("utf-8")))


# -- SM2 ----------------------------------------------------------------------------------------------------------
def _hex(value: str, setting: str, lengths: tuple[int, ...]) -> str:
    v = (value or "").strip().lower()
    if len(v) not in lengths or any(c not in "0123456789abcdef" for c in v):
        raise ValueError(f"{setting} must be {' or '.join(str(n) for n in lengths)} hex characters")
    return v


def _private_scalar(private_key: str, setting: str = "sm2_private_key") -> int:
    d = int(_hex(private_key, setting, (64,)), 16)
    if not 1 <= d < _N - 1:
        raise ValueError(f"{setting} is not a valid SM2 private key")
    return d


def _normalise_public_key(public_key: str, setting: str = "sm2_public_key") -> str:
    """128 hex chars x||y (an uncompressed ``04`` prefix is accepted), checked to lie on the SM2 curve."""
    v = _hex(public_key, setting, (128, 130))
    if len(v) == 130:
        if not v.startswith("04"):
            raise ValueError(f"{setting} must be an uncompressed point (04 prefix)")
        v = v[2:]
    x, y = int(v[:64], 16), int(v[64:], 16)
    if not (x < _P and y < _P and (y * y - x * x * x - _A * x - _B) % _P == 0):
        raise ValueError(f"{setting} is not a point on the SM2 curve")
    return v


def _engine(private_key: str, public_key: str) -> sm2.CryptSM2:
    engine = sm2.CryptSM2(private_key=private_key, public_key="")
    engine.public_key = public_key  # not through the constructor: its lstrip("04") mangles some keys
    return engine


def sm2_public_key_of(private_key: str) -> str:
    """The 128-hex public key x||y of an SM2 private key."""
    d = _private_scalar(private_key)
    return _engine(f"{d:064x}", "")._kg(d, _CURVE["g"])


def new_sm2_private_key() -> str:
    return "%064x" % (secrets.randbelow(_N - 2) + 1)


def sm2_sign(private_key: str, public_key: str, text: str) -> str:
    """Hex r||s of SM2-with-SM3 over ``text``; the nonce comes from ``secrets`` (never gmssl's ``random``)."""
    engine = _engine(private_key, public_key)
    while True:
        signature = engine.sign_with_sm3(text.encode("utf-8"), "%064x" % (secrets.randbelow(_N - 1) + 1))
        if signature:  # None for the rare nonce with r = 0 or r + k = n: draw another
            return signature


def sm2_verify(public_key: str, signature: Any, text: str) -> bool:
    if not isinstance(signature, str) or len(signature) != 128:
        return False
    try:
        r, s = int(signature[:64], 16), int(signature[64:], 16)
    except ValueError:
        return False
    if not (1 <= r < _N and 1 <= s < _N):
        return False
    try:
        return bool(_engine("", public_key).verify_with_sm3(signature, text.encode("utf-8")))
    except (TypeError, ValueError):  # a crafted (r, s) can reach the point at infinity, where gmssl returns None
        return False


# -- SM4 ----------------------------------------------------------------------------------------------------------
class Sm4Cipher:
    """SM4-ECB with PKCS7 padding checked on the way back in (gmssl's unpadding accepts anything)."""

    def __init__(self, key_hex: str, setting: str = "sm4_key"):
        key = bytes.fromhex(_hex(key_hex, setting, (32,)))
        self._enc = sm4.CryptSM4(sm4.SM4_ENCRYPT, padding_mode=_NO_PADDING)
        self._enc.set_key(key, sm4.SM4_ENCRYPT)
        self._dec = sm4.CryptSM4(sm4.SM4_DECRYPT, padding_mode=_NO_PADDING)
        self._dec.set_key(key, sm4.SM4_DECRYPT)

    def __repr__(self) -> str:
        return "Sm4Cipher(key=***)"

    def encrypt(self, plain: bytes) -> bytes:
        pad = 16 - len(plain) % 16
        return self._enc.crypt_ecb(plain + bytes([pad]) * pad)

    def decrypt(self, cipher: bytes) -> bytes:
        if not cipher or len(cipher) % 16:
            raise SmCryptoError("The encrypted body is not a whole number of SM4 blocks.", "加密报文长度不正确")
        plain = self._dec.crypt_ecb(cipher)
        pad = plain[-1]
        if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
            raise SmCryptoError("The encrypted body does not decrypt with the configured SM4 key.",
                                "报文解密失败，SM4密钥不匹配")
        return plain[:-pad]


def read_key_file(path: str, setting: str) -> str:
    """A key kept in a file (mode 0600) rather than in a settings file; the error names the setting, not the key."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise ValueError(f"{setting}: cannot read the key file") from None


# -- the envelope -------------------------------------------------------------------------------------------------
class SmCrypto:
    """One side's view of the protection: seals what it sends, opens what it receives.

    ``private_key`` is this side's own SM2 key (the pharmacy signs requests with it, the insurer answers);
    ``peer_public_key`` verifies the other side (the pharmacy checks answers; the insurer checks requests).
    ``signtype`` is the signature requests carry. Misconfiguration is a ``ValueError`` here, at start-up, so a
    send never fails half-way for a reason that is not the insurer's.
    """

    def __init__(self, *, signtype: str = "", private_key: str = "", peer_public_key: str = "", sm4_key: str = "",
                 encrypt_body: bool = False, role: Role = "pharmacy"):
        signtype = (signtype or "").strip().upper()
        if signtype not in SIGNTYPES:
            raise ValueError("signtype must be empty, 'SM3' or 'SM2'")
        self.signtype = signtype
        self.encrypt_body = bool(encrypt_body)
        self.role = role
        self._private = f"{_private_scalar(private_key):064x}" if private_key else ""
        self._public = sm2_public_key_of(self._private) if self._private else ""
        self.peer_public_key = _normalise_public_key(peer_public_key) if peer_public_key else ""
        if signtype == "SM2" and role == "pharmacy" and not self._private:
            raise ValueError("signtype SM2 needs sm2_private_key")
        if signtype == "SM2" and role == "insurer" and not self.peer_public_key:
            raise ValueError("signtype SM2 needs the pharmacy's public key to verify requests")
        if self.encrypt_body and not sm4_key:
            raise ValueError("encrypt_body needs sm4_key")
        self._sm4_hex = _hex(sm4_key, "sm4_key", (32,)) if sm4_key else ""
        self._sm4 = Sm4Cipher(self._sm4_hex) if sm4_key else None

    def __repr__(self) -> str:
        return (f"SmCrypto(role={self.role!r}, signtype={self.signtype!r}, encrypt_body={self.encrypt_body}, "
                f"signs_answers={bool(self._private) and self.role == 'insurer'}, "
                f"verifies_answers={bool(self.peer_public_key) and self.role == 'pharmacy'})")

    @property
    def active(self) -> bool:
        return bool(self.signtype or self.encrypt_body or self._private or self.peer_public_key)

    @property
    def public_key(self) -> str:
        """This side's own public key (what the other side must be given), or ""."""
        return self._public

    def insurer_side(self, *, private_key: str = "") -> SmCrypto:
        """The insurer that matches this pharmacy's settings (the sandbox's configuration)."""
        return SmCrypto(signtype=self.signtype, peer_public_key=self._public, private_key=private_key,
                        sm4_key=self._sm4_hex, encrypt_body=self.encrypt_body, role="insurer")

    # -- sealing --------------------------------------------------------------------------------------------------
    def _seal(self, body: dict[str, Any], node: str, signtype: str) -> dict[str, Any]:
        out = dict(body)
        value = out.get(node)
        if self.encrypt_body and isinstance(value, dict):
            assert self._sm4 is not None
            value = {ENC_FIELD: base64.b64encode(self._sm4.encrypt(canonical_text(value).encode("utf-8"))).decode()}
            out[node] = value
        if signtype == "SM3":
            out["signtype"], out["cainfo"] = "SM3", sm3_hex(canonical_text(value))
        elif signtype == "SM2":
            out["signtype"], out["cainfo"] = "SM2", sm2_sign(self._private, self._public, canonical_text(value))
        return out

    def seal_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """The envelope as sent. Unprotected settings return ``body`` itself (the wire stays as it always was)."""
        if not (self.signtype or self.encrypt_body):
            return body
        return self._seal(body, "input", self.signtype)

    def seal_answer(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The insurer's answer as sent: output encrypted when configured, SM2-signed when it has a private key."""
        if not (self.encrypt_body or self._private):
            return raw
        return self._seal(raw, "output", "SM2" if self._private else "")

    # -- opening --------------------------------------------------------------------------------------------------
    def _decrypt_node(self, value: Any) -> dict[str, Any]:
        assert self._sm4 is not None
        try:
            cipher = base64.b64decode(str(value.get(ENC_FIELD) or ""), validate=True)
        except (binascii.Error, ValueError):
            raise SmCryptoError("The encrypted body is not base64.", "加密报文不是有效的Base64") from None
        plain = self._sm4.decrypt(cipher)
        try:
            node = json.loads(plain.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise SmCryptoError("The decrypted body is not JSON.", "报文解密失败，解密结果不是有效的JSON") from None
        if not isinstance(node, dict):
            raise SmCryptoError("The decrypted body is not an object.", "报文解密失败，解密结果不是JSON对象")
        return node

    def open_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Insurer side: verify the signature of ``input`` as sent, then decrypt it."""
        if self.signtype:
            if str(body.get("signtype") or "").strip().upper() != self.signtype:
                raise SmCryptoError("The request's signtype is not the one required.",
                                    f"签名类型[signtype]必须为{self.signtype}")
            text, cainfo = canonical_text(body.get("input")), body.get("cainfo")
            if self.signtype == "SM3":
                good = isinstance(cainfo, str) and hmac.compare_digest(sm3_hex(text), cainfo.strip().lower())
            else:
                good = sm2_verify(self.peer_public_key, cainfo, text)
            if not good:
                raise SmCryptoError("The request's signature does not verify.", "报文签名验证失败，报文可能被篡改")
        if not self.encrypt_body:
            return body
        value = body.get("input")
        if not isinstance(value, dict) or ENC_FIELD not in value:
            raise SmCryptoError("The request's input is not encrypted.", "交易输入[input]必须为SM4加密报文")
        return {**body, "input": self._decrypt_node(value)}

    def open_answer(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Pharmacy side: verify the insurer's signature (when its key is configured), then decrypt ``output``.

        Either failure is an answer we cannot trust or read: the caller treats it as outcome unknown."""
        if self.peer_public_key and not sm2_verify(self.peer_public_key, raw.get("cainfo"),
                                                   canonical_text(raw.get("output"))):
            raise SmCryptoError("The insurer's answer failed SM2 signature verification.",
                                "医保中心应答验签失败，交易结果未知，请勿重复结算，系统将自动核实。")
        value = raw.get("output")
        if self.encrypt_body and isinstance(value, dict) and ENC_FIELD in value:
            try:
                return {**raw, "output": self._decrypt_node(value)}
            except SmCryptoError as exc:
                raise SmCryptoError(f"The insurer's answer cannot be decrypted: {exc.message}",
                                    "医保中心应答解密失败，交易结果未知，请勿重复结算，系统将自动核实。") from None
        return raw


def crypto_for(settings: Any) -> SmCrypto:
    """The pharmacy side from ``GatewaySettings`` (keys from the settings or their 0600 files)."""
    private = settings.sm2_private_key or (
        read_key_file(settings.sm2_private_key_file, "sm2_private_key_file") if settings.sm2_private_key_file else "")
    sm4_key = settings.sm4_key or (
        read_key_file(settings.sm4_key_file, "sm4_key_file") if settings.sm4_key_file else "")
    return SmCrypto(signtype=settings.signtype, private_key=private, peer_public_key=settings.sm2_public_key,
                    sm4_key=sm4_key, encrypt_body=settings.encrypt_body, role="pharmacy")
