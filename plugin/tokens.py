"""Per-terminal API tokens (docs/security.md): needed when rxlane listens beyond loopback.

A token is shown once at creation; the ledger keeps only its SHA-256, so a copied ledger file grants nothing.
Scopes: `sales` (the POS API), `pii` (answers with unmasked names and numbers; every such use is audited),
`admin` (reconciliation, reports, device self-tests), `reconcile` (the store's lead counter reading this counter's
day rows, docs/reconciliation.md).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from plugin.errors import InvalidInput
from plugin.store import Ledger

SCOPES = ("sales", "pii", "admin", "reconcile")
PREFIX = "rxl_"


@dataclass(frozen=True)
class Token:
    id: int
    terminal: str
    scopes: frozenset[str]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> list[str]:
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be a comma list of {', '.join(SCOPES)}", "令牌权限不正确。",
                           field="scopes")
    return scopes


def create(ledger: Ledger, terminal: str, scopes: list[str]) -> tuple[int, str]:
    if not terminal or len(terminal) > 40 or not terminal.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("terminal must be 1–40 letters, digits, '-' or '_'.", "终端名称不正确。",
                           field="terminal")
    token = PREFIX + secrets.token_urlsafe(32)
    with ledger.transaction() as c:
        token_id = ledger.tokens.insert(c, terminal, ",".join(scopes), digest(token))
        ledger.audit.append("token_created", None, {"token_id": token_id, "terminal": terminal, "scopes": scopes},
                            conn=c)
        return token_id, token


def lookup(ledger: Ledger, token: str) -> Token | None:
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    want = digest(token)
    row = ledger.tokens.active(want)
    if row is None or not hmac.compare_digest(row["hash"], want):
        return None
    return Token(row["id"], row["terminal"], frozenset(row["scopes"].split(",")))


def listing(ledger: Ledger) -> list[dict]:
    return ledger.tokens.listing()


def revoke(ledger: Ledger, token_id: int) -> bool:
    with ledger.transaction() as c:
        done = ledger.tokens.revoke(c, token_id)
        if done:
            ledger.audit.append("token_revoked", None, {"token_id": token_id}, conn=c)
        return done
