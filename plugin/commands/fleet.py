"""`rxlane fleet render|inventory|status|report` — chain headquarters' commands (docs/architecture.md,
docs/configuration.md; deploy/README.md)."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

import click

from plugin.errors import RxlaneError


def _stderr_console():
    from rich.console import Console
    return Console(stderr=True)


@contextmanager
def _progress(label: str, total: int) -> Iterator:
    """A rich progress bar on stderr (stdout stays clean for JSON); yields `advance()`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_stderr_console(), transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda *_: progress.advance(task)


def _refuse(problems) -> None:
    click.echo(f"refused: {len(problems)} problem(s); nothing was written", err=True)
    for p in problems:
        click.echo(f"  {p}", err=True)
    sys.exit(2)


def _inventory(path: str):
    from plugin.fleet.inventory import read_inventory
    inv = read_inventory(path)
    if inv.problems:
        _refuse(inv.problems)
    return inv


@click.group()
def fleet() -> None:
    """Chain rollout: per-store configs, Ansible inventory, fleet health, chain report."""


@fleet.command("render")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option("--chain", type=click.Path(exists=True, dir_okay=False), help="Chain TOML layer (no secrets).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Directory for <store_id>.toml.")
def render(inventory, chain, out) -> None:
    """Write one validated store config per inventory row, or nothing at all (exit 2 listing every bad row)."""
    from plugin.fleet.render import FleetRefused, render_fleet
    inv = _inventory(inventory)
    try:
        with _progress("render", len(inv.rows)) as advance:
            result = render_fleet(inv, chain, out, on_store=advance)
    except FleetRefused as exc:
        _refuse(exc.problems)
    click.echo(json.dumps({"ok": True, "stores": result.stores, "out": str(result.out)}, ensure_ascii=False))


@fleet.command("inventory")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option("--chain", type=click.Path(exists=True, dir_okay=False), help="Chain TOML layer to ship to every host.")
@click.option("--config-dir", default="stores", show_default=True, type=click.Path(file_okay=False),
              help="Where `fleet render --out` wrote the store files.")
def inventory_cmd(inventory, chain, config_dir) -> None:
    """Print an Ansible inventory (YAML): hosts grouped by region, with store_id and config file per host."""
    from plugin.fleet.hosts import inventory_yaml
    click.echo(inventory_yaml(_inventory(inventory).rows, config_dir, chain), nl=False)


@fleet.command("status")
@click.argument("inventory", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results instead of a table.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 512))
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.05, 120), help="Seconds per store.")
@click.option("--port", default=8600, show_default=True, type=click.IntRange(1, 65535))
@click.option("--backlog-age", default=3600.0, show_default=True, help="Outbox age (s) that counts as a backlog.")
@click.option("--from-hq", "hq_url", help="Read the stores' state from HQ (`rxlane hq serve`) instead of polling.")
@click.option("--token", envvar="RXLANE_HQ__ADMIN_TOKEN", help="HQ's admin token (default $RXLANE_HQ__ADMIN_TOKEN).")
@click.option("--store-token", envvar="RXLANE_FLEET__STORE_TOKEN", default="",
              help="Token sent to stores that listen beyond loopback (default $RXLANE_FLEET__STORE_TOKEN).")
def status(inventory, as_json, concurrency, timeout, port, backlog_age, hq_url, token, store_token) -> None:
    """Poll every store's /v1/health (or read HQ with --from-hq). Exit 0 when all are healthy, 1 when any is
    degraded or down, 2 when the inventory or HQ cannot be read."""
    from plugin.fleet.status import Target, poll_fleet, summarize
    if hq_url:
        from plugin.fleet.hqstatus import from_hq, with_inventory
        try:
            results = from_hq(hq_url, token or "", timeout=max(timeout, 10.0))
        except RxlaneError as exc:
            click.echo(json.dumps(exc.to_body(), ensure_ascii=False, indent=2), err=True)
            sys.exit(2)
        if inventory:
            results = with_inventory(results, _inventory(inventory).rows, hq_url)
    elif not inventory:
        click.echo("give an INVENTORY to poll, or --from-hq URL", err=True)
        sys.exit(2)
    else:
        rows = _inventory(inventory).rows
        targets = [Target(r.store_id, r.host, r.port or port) for r in rows]
        with _progress("status", len(targets)) as advance:
            results = poll_fleet(targets, concurrency=concurrency, timeout=timeout, backlog_age_s=backlog_age,
                                 on_result=advance, token=store_token)
    summary = summarize(results)
    if as_json:
        click.echo(json.dumps({"summary": summary, "stores": [r.to_dict() for r in results]}, ensure_ascii=False,
                              indent=2))
    else:
        _print_table(results, summary)
    sys.exit(0 if summary["healthy"] == summary["stores"] else 1)


def _print_table(results, summary) -> None:
    from rich.console import Console
    from rich.table import Table

    from plugin.fleet.status import DOWN, HEALTHY, PROBLEM_LABELS
    table = Table(title=f"{summary['healthy']} healthy · {summary['degraded']} degraded · {summary['down']} down")
    for col in ("store", "state", "problems / reason", "ms"):
        table.add_column(col)
    colour = {HEALTHY: "green", DOWN: "red"}
    order = {DOWN: 0, "degraded": 1, HEALTHY: 2}
    for r in sorted(results, key=lambda r: (order[r.state], r.store_id)):
        why = ", ".join(PROBLEM_LABELS.get(p, p) for p in r.problems) if r.state != DOWN else r.detail
        table.add_row(r.store_id, f"[{colour.get(r.state, 'yellow')}]{r.state}[/]", why, f"{r.elapsed_ms:.0f}")
    Console(width=140).print(table)


@fleet.command("report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write the chain report here (default stdout).")
def report(directory, out) -> None:
    """Roll the stores' monthly JSON reports in DIRECTORY up into one chain report."""
    from plugin.fleet.rollup import read_reports, rollup
    try:
        text = json.dumps(rollup(read_reports(directory)), ensure_ascii=False, indent=2) + "\n"
    except RxlaneError as exc:
        click.echo(json.dumps(exc.to_body(), ensure_ascii=False, indent=2), err=True)
        sys.exit(2)
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
