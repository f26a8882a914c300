"""`rxlane backup` and `rxlane restore`: a consistent copy of the ledger, and putting one back
(docs/reliability.md, "Backup and restore").

The copy is made with SQLite's online backup API through a read-only connection, so it is consistent even while a
service is writing — the WAL's newest pages included, which a plain copy of ``ledger.sqlite3`` alone would miss.
Restoring is refused while a service owns the data directory; the ledger it replaces is kept beside it.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from plugin.errors import RxlaneError


def _ledger_path(config_file: str | None, data_dir: str | None) -> Path:
    from plugin.cli import _settings
    from plugin.service import data_dir as resolve_dir
    return resolve_dir(_settings(config_file, server__data_dir=data_dir)) / "ledger.sqlite3"


def _fail(exc: RxlaneError) -> None:
    click.echo(json.dumps(exc.to_body(), ensure_ascii=False, indent=2), err=True)
    sys.exit(2)


@click.command("backup")
@click.option("--to", "destination", required=True, type=click.Path(),
              help="The backup file, or a directory to put ledger-<time>.sqlite3 in.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False))
def backup(destination, config_file, data_dir) -> None:
    """Copy the ledger consistently (safe beside a running service); prints where, how big, and its check."""
    from plugin.store.files import backup as copy
    target = Path(destination)
    if target.is_dir():
        target = target / f"ledger-{datetime.now().strftime('%Y%m%d-%H%M%S')}.sqlite3"
    try:
        result = copy(_ledger_path(config_file, data_dir), target)
    except RxlaneError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(RxlaneError("LEDGER_WRITE_FAILED", f"Cannot write {target}: {exc.strerror}.",
                          f"无法写入备份文件 {target}：{exc.strerror}"))
    click.echo(json.dumps({"backup": result.path, "bytes": result.bytes, "pages": result.pages,
                           "integrity": result.integrity}, ensure_ascii=False))


@click.command("restore")
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False))
def restore(backup_file, config_file, data_dir) -> None:
    """Put a backup in place of the ledger (refused while a service runs on the data directory). The backup is
    checked first; the ledger it replaces is kept as ledger.sqlite3.replaced-<time>."""
    from plugin import datadir
    from plugin.store.files import restore as put_back
    path = _ledger_path(config_file, data_dir)
    try:
        with datadir.claim(path.parent, "rxlane restore"):
            aside = put_back(Path(backup_file), path)
    except RxlaneError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(RxlaneError("LEDGER_WRITE_FAILED", f"Cannot restore: {exc.strerror}.", f"无法恢复：{exc.strerror}"))
    click.echo(json.dumps({"restored": str(path), "from": str(backup_file),
                           "previous": str(aside) if aside else None}, ensure_ascii=False))
