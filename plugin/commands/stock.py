"""`rxlane stock add|list|retire`: the store's batches of each drug (docs/reconciliation.md) — the last source of a
sold pack's lot, production date and expiry when neither its code nor the POS gives them."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from plugin.errors import RxlaneError


@contextmanager
def _ledger(config_file: str | None, data_dir: str | None, role: str) -> Iterator[Any]:
    """The ledger for a change: this command takes the data directory for its run, or is refused while a service
    owns it (the service's `/v1/stock` does the same) — one owner per data directory (docs/reliability.md)."""
    from plugin import datadir
    from plugin.cli import _fail, _settings
    from plugin.ledger import Ledger
    from plugin.service import data_dir as resolve_dir
    directory = resolve_dir(_settings(config_file, server__data_dir=data_dir))
    try:
        owner = datadir.claim(directory, role)
    except RxlaneError as exc:
        _fail(exc)
    try:
        ledger = Ledger(directory / "ledger.sqlite3")
        try:
            yield ledger
        finally:
            ledger.close()
    finally:
        owner.release()


def _common(f):
    f = click.option("--data-dir", type=click.Path(file_okay=False))(f)
    return click.option("--config", "config_file", type=click.Path(dir_okay=False))(f)


@click.group()
def stock() -> None:
    """The store's stock batches (lot, production date, expiry) per drug."""


@stock.command("add")
@click.option("--drug", "med_list_codg", required=True, help="The national drug code (med_list_codg).")
@click.option("--lot", required=True, help="The lot number (生产批号).")
@click.option("--manu-date", required=True, help="Production date, YYYY-MM-DD.")
@click.option("--expy-end", required=True, help="Expiry date, YYYY-MM-DD.")
@click.option("--bchno", default="", help="The pharmacy's own batch serial; default: the lot.")
@click.option("--prdr-name", default="", help="The manufacturer (生产厂家).")
@_common
def add(med_list_codg, lot, manu_date, expy_end, bchno, prdr_name, config_file, data_dir) -> None:
    """Put a batch of a drug on the shelf."""
    from pydantic import ValidationError

    from plugin import stock as stock_entries
    from plugin.api.models import StockIn
    try:
        entry = StockIn(med_list_codg=med_list_codg, lot=lot, manu_date=manu_date, expy_end=expy_end, bchno=bchno,
                        prdr_name=prdr_name)
    except ValidationError as exc:
        err = exc.errors()[0]
        click.echo(json.dumps({"error": {"code": "INVALID_INPUT", "field": ".".join(map(str, err["loc"])),
                                         "message": err["msg"]}}, ensure_ascii=False), err=True)
        sys.exit(2)
    with _ledger(config_file, data_dir, "rxlane stock add") as ledger:
        click.echo(json.dumps(stock_entries.add(ledger, **entry.model_dump()), ensure_ascii=False))


@stock.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Also retired batches.")
@_common
def list_stock(include_retired, config_file, data_dir) -> None:
    """The batches on the shelf (JSON)."""
    from plugin import stock as stock_entries
    from plugin.cli import _reading
    ledger = _reading(config_file, data_dir)      # beside a running service too
    try:
        click.echo(json.dumps({"stock": stock_entries.listing(ledger, include_retired)}, ensure_ascii=False, indent=2))
    finally:
        ledger.close()


@stock.command("retire")
@click.argument("entry_id", type=int)
@_common
def retire(entry_id, config_file, data_dir) -> None:
    """Take a batch off the shelf (sold out, withdrawn)."""
    from plugin import stock as stock_entries
    with _ledger(config_file, data_dir, "rxlane stock retire") as ledger:
        try:
            stock_entries.retire(ledger, entry_id)
        except RxlaneError as exc:
            click.echo(json.dumps(exc.to_body(), ensure_ascii=False), err=True)
            sys.exit(1)
    click.echo(json.dumps({"id": entry_id, "retired": True}))
