"""The patient's password for a province that requires it on settlement (2102): RSA-encrypted with the province's
public key and carried in the envelope's ``cainfo`` (docs/gateway.md 2102, "password in cainfo"). The plain password
is never stored, logged or journaled: only the sealed text travels, and the journal keeps the body as sent."""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from plugin.errors import InvalidInput


class PasswordSeal:
    """Seals a password with the province's RSA public key (PKCS#1 v1.5, base64), as the public client does."""

    def __init__(self, public_key_pem: bytes):
        try:
            key = serialization.load_pem_public_key(public_key_pem)
        except ValueError:
            raise InvalidInput("nhsa.password_public_key_file is not a PEM RSA public key.",
                               "医保密码加密公钥文件不是有效的 PEM 格式 RSA 公钥。",
                               field="nhsa.password_public_key_file") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidInput("nhsa.password_public_key_file is not an RSA key.", "医保密码加密公钥不是 RSA 公钥。",
                               field="nhsa.password_public_key_file")
        self._key = key

    @classmethod
    def from_file(cls, path: str) -> PasswordSeal:
        try:
            return cls(Path(path).read_bytes())
        except OSError as exc:
            raise InvalidInput(f"nhsa.password_public_key_file: cannot read: {exc.strerror}",
                               "无法读取医保密码加密公钥文件。", field="nhsa.password_public_key_file") from None

    def seal(self, password: str) -> str:
        return base64.b64encode(self._key.encrypt(password.encode("utf-8"), padding.PKCS1v15())).decode("ascii")
