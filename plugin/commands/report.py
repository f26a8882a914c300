"""`rxlane report monthly` — the store's monthly dual-channel report from its own ledger (no server needed)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from plugin.errors import InvalidInput, RxlaneError


@click.group()
def report() -> None:
    """Reports from the local ledger."""


@report.command("monthly")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "csv", "png"]))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Output file (default stdout; png needs a file).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the ledger lives.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Store config file (TOML).")
def monthly(month, fmt, out, data_dir, config_file) -> None:
    """The month's sales per drug and per prescribing institution, refunds and insurer refusals."""
    from plugin import reports
    from plugin.cli import _settings
    from plugin.ledger import Ledger
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    path = resolve_dir(settings) / "ledger.sqlite3"
    try:
        if fmt == "png" and not out and sys.stdout.isatty():
            # a PNG's bytes on a terminal are garbage at best and control sequences at worst: refuse before any work
            raise InvalidInput("refusing to write a PNG to a terminal; use --out FILE (or redirect the output)",
                               "PNG 图片不能输出到终端，请用 --out 指定文件（或重定向输出）。", field="out")
        reports.month_bounds(month)
        if not path.is_file():
            raise RxlaneError("NOT_FOUND", message=f"no ledger at {path}", message_zh=f"未找到账本：{path}")
        ledger = Ledger(path)
        try:
            store = {"fixmedins_code": settings.store.fixmedins_code,
                     "fixmedins_name": settings.store.fixmedins_name, "region": settings.store.region}
            _, body = reports.render(reports.monthly(ledger, month, store), fmt)
        finally:
            ledger.close()
    except RxlaneError as exc:
        click.echo(json.dumps(exc.to_body(), ensure_ascii=False, indent=2), err=True)
        sys.exit(2)
    if out:
        Path(out).write_bytes(body)
    else:
        click.echo(body, nl=False)               # bytes: click writes them to the binary stream
