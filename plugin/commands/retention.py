"""`rxlane retention run`: prune the ledger now as the daily job does (docs/reconciliation.md, "Retention"). Without a
backup hook, journal bodies are kept."""
from __future__ import annotations

import json
from datetime import datetime

import click


@click.group()
def retention() -> None:
    """Keep the ledger bounded."""


@retention.command("run")
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False))
def run(config_file, data_dir) -> None:
    """Prune idempotency records, old delivered uploads (and journal bodies after a backup) now."""
    from plugin import datadir
    from plugin.cli import _fail, _settings
    from plugin.errors import RxlaneError
    from plugin.ledger import Ledger
    from plugin.retention import Retention
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    directory = resolve_dir(settings)
    try:   # it changes the books: refused while a service owns the directory (its own job runs daily)
        owner = datadir.claim(directory, "rxlane retention run")
    except RxlaneError as exc:
        _fail(exc)
    try:
        ledger = Ledger(directory / "ledger.sqlite3")
        try:
            click.echo(json.dumps(Retention(ledger, settings.retention).run(datetime.now()), ensure_ascii=False))
        finally:
            ledger.close()
    finally:
        owner.release()
