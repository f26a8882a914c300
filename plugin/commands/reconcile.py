"""`rxlane reconcile --date YYYY-MM-DD` — the day's 3201/3202 reconciliation from the command line, as JSON."""
from __future__ import annotations

import json
import sys
from datetime import date

import click

from plugin.errors import RxlaneError


@click.command("reconcile")
@click.option("--date", "day", required=True, help="The business day to reconcile (YYYY-MM-DD).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Store config file (TOML).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the ledger lives.")
def reconcile(day, config_file, data_dir) -> None:
    """Compare the ledger with the insurer for one day; exit 0 when nothing differs, 1 when something does."""
    from plugin.cli import _owning
    from plugin.reconcile import reconcile as run
    try:
        when = date.fromisoformat(day)
    except ValueError:
        click.echo(json.dumps(RxlaneError("INVALID_INPUT", message="--date must be YYYY-MM-DD.",
                                          message_zh="日期格式应为 YYYY-MM-DD。",
                                          details={"field": "date"}).to_body(), ensure_ascii=False), err=True)
        sys.exit(2)
    # it repairs the ledger (adopts, reverses): refused while a service owns the data directory — ask the service
    # (POST /v1/reconciliation), which also runs it every night by itself
    with _owning(config_file, data_dir, "rxlane reconcile") as svc:
        try:
            report = run(svc, when)
            report["gateway"] = svc.extras["gateway"].describe()
        except RxlaneError as exc:
            click.echo(json.dumps(exc.to_body(), ensure_ascii=False, indent=2), err=True)
            sys.exit(2)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(0 if report["ok"] else 1)
