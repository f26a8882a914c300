"""`rxlane token create|list|revoke`: per-terminal API tokens for a service that listens beyond loopback."""
from __future__ import annotations

import json
import sys

import click

from plugin.errors import RxlaneError


def _ledger(config_file: str | None, data_dir: str | None):
    from plugin.cli import _settings
    from plugin.ledger import Ledger
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    return Ledger(resolve_dir(settings) / "ledger.sqlite3")


@click.group()
def token() -> None:
    """Per-terminal API tokens (needed when the service listens beyond loopback)."""


_common = [click.option("--config", "config_file", type=click.Path(dir_okay=False)),
           click.option("--data-dir", type=click.Path(file_okay=False))]


def common(f):
    for option in reversed(_common):
        f = option(f)
    return f


@token.command("create")
@click.option("--terminal", required=True, help="The POS terminal this token is for, e.g. POS-01.")
@click.option("--scopes", default="sales", show_default=True, help="Comma list of sales, pii, admin.")
@common
def create(terminal, scopes, config_file, data_dir) -> None:
    """Create a token and print it once (only its hash is kept)."""
    from plugin import tokens
    ledger = _ledger(config_file, data_dir)
    try:
        token_id, secret = tokens.create(ledger, terminal, tokens.parse_scopes(scopes))
    except RxlaneError as exc:
        click.echo(json.dumps(exc.to_body(), ensure_ascii=False), err=True)
        sys.exit(2)
    finally:
        ledger.close()
    click.echo(json.dumps({"id": token_id, "terminal": terminal, "scopes": scopes.split(","), "token": secret}))
    click.echo("Store this token now: it is not shown again.", err=True)


@token.command("list")
@common
def list_tokens(config_file, data_dir) -> None:
    """List tokens (never their values)."""
    from plugin import tokens
    ledger = _ledger(config_file, data_dir)
    try:
        click.echo(json.dumps(tokens.listing(ledger), ensure_ascii=False, indent=2))
    finally:
        ledger.close()


@token.command("revoke")
@click.argument("token_id", type=int)
@common
def revoke(token_id, config_file, data_dir) -> None:
    """Revoke a token by its id."""
    from plugin import tokens
    ledger = _ledger(config_file, data_dir)
    try:
        ok = tokens.revoke(ledger, token_id)
    finally:
        ledger.close()
    click.echo(json.dumps({"id": token_id, "revoked": ok}))
    sys.exit(0 if ok else 1)
