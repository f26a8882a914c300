"""`rxlane simulate scanner …` (a pty that behaves like a scanner) and `rxlane devices` (states from the service)."""
from __future__ import annotations

import sys

import click
import requests


@click.group()
def simulate() -> None:
    """Pretend hardware for demos and tests."""


@simulate.command("scanner")
@click.option("--scan", "scans", multiple=True, metavar="TEXT", help="A code to send (repeat the option).")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds before each scan.")
@click.option("--framing", type=click.Choice(["cr", "lf", "crlf", "stx_etx", "timeout"]), default="cr",
              show_default=True)
def simulate_scanner(scans, interval, framing) -> None:
    """Open a pseudo-terminal scanner and print its path; configure a [[devices]] url with it."""
    from hardware.simulate import main as simulate_main
    argv = ["scanner", "--interval", str(interval), "--framing", framing]
    for text in scans:
        argv += ["--scan", text]
    sys.exit(simulate_main(argv))


@click.command()
@click.option("--url", default="http://127.0.0.1:8600", show_default=True, help="The running service.")
def devices(url) -> None:
    """List the running service's devices and their states."""
    try:
        answer = requests.get(url.rstrip("/") + "/v1/devices", timeout=5).json()
    except (requests.RequestException, ValueError) as exc:
        click.echo(f"rxlane devices: cannot reach {url}: {type(exc).__name__} — is `rxlane serve` running? "
                   f"无法连接 {url}，请确认 rxlane 服务正在运行。", err=True)
        sys.exit(1)
    rows = answer.get("devices", [])
    if not rows:
        click.echo("no devices configured")
        return
    for d in rows:
        click.echo(f"{d['name']:<16} {d['kind']:<12} {d['state']:<13} {d.get('url', '')}"
                   + (f"  ({d['error']})" if d.get("error") else ""))
    sys.exit(0 if all(d["state"] == "connected" for d in rows) else 1)


