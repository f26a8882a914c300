"""`rxlane` — the command line: serve, sandbox, config, doctor, catalog, outbox, policy, simulate, devices, backup."""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from collections.abc import Iterator

import click

from plugin import __version__
from plugin.errors import DataDirInUse, RxlaneError


def _fail(exc: RxlaneError) -> None:
    click.echo(json.dumps(exc.to_body(), ensure_ascii=False, indent=2), err=True)
    sys.exit(2)


def _settings(config: str | None, **overrides: Any):
    from plugin.config import load_settings
    layer: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        if value is not None:
            section, key = dotted.split("__")
            layer.setdefault(section, {})[key] = value
    try:
        return load_settings(config, overrides=layer)
    except RxlaneError as exc:
        _fail(exc)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rxlane")
def main() -> None:
    """rxlane: dual-channel (双通道) drug sales beside the pharmacy POS."""


@main.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Store config file (TOML).")
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8600; 0 picks a free port).")
@click.option("--sandbox-port", type=int, help="Embedded sandbox port (default 8700; 0 picks a free port).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the ledger lives.")
@click.option("--no-demo", is_flag=True, help="Start the embedded sandbox empty.")
@click.option("--workers", type=int, help="Worker threads (waitress).")
def serve(config, host, port, sandbox_port, data_dir, no_demo, workers) -> None:  # noqa: C901 — one start sequence
    """Run the service (and, with no [nhsa] url, the embedded sandbox insurer)."""
    from plugin import datadir
    from plugin.api.auth import bind
    from plugin.app import create_app
    from plugin.config import binds_loopback
    from plugin.httpserver import EventStreams, serve as http_serve
    from plugin.logs import configure_logging, log_file_path
    from plugin.service import build_service, data_dir as resolve_dir, store_policy

    settings = _settings(config, server__host=host, server__port=port, sandbox__port=sandbox_port,
                         server__data_dir=data_dir, server__workers=workers,
                         sandbox__demo=False if no_demo else None)
    try:
        configure_logging(log_file=log_file_path(settings.server.log_file))
    except OSError as exc:
        click.echo(f"rxlane: cannot write the log file {settings.server.log_file}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    # one owner per data directory, taken before anything touches it (docs/reliability.md)
    try:
        owner = datadir.claim(resolve_dir(settings), "rxlane serve")
    except RxlaneError as exc:
        _fail(exc)
    sandbox = None
    svc = None
    try:
        if settings.embedded_sandbox:
            from adapters.sandbox.server import start_sandbox
            try:
                sandbox = start_sandbox(settings.sandbox.host, settings.sandbox.port, demo=settings.sandbox.demo,
                                        policy=store_policy(settings), profile=settings.nhsa.profile)
            except OSError as exc:
                owner.release()
                _cannot_listen("the embedded sandbox", "内置模拟医保中心", settings.sandbox.host,
                               settings.sandbox.port, "--sandbox-port", exc)
        svc = build_service(settings, gateway_url=sandbox.url if sandbox else None)
        if sandbox and settings.sandbox.demo:
            from plugin.demo import install_demo_list
            install_demo_list(svc)
        svc.check_ledger()
        svc.recover_at_start()
    except (RxlaneError, OSError) as exc:
        if svc is not None:
            svc.close()
        if sandbox:
            sandbox.shutdown()
        owner.release()
        if isinstance(exc, RxlaneError):
            _fail(exc)
        else:
            click.echo(f"rxlane: cannot start: {exc.strerror or exc}. 无法启动：{exc.strerror or exc}", err=True)
        sys.exit(1)
    if sandbox and svc.upstream.client.crypto.active:
        # the embedded insurer plays a province with the same 国密 settings, so a demo of them works end to end
        sandbox.crypto = svc.upstream.client.crypto.insurer_side()
    app = create_app(svc)
    server_settings = settings.server
    streams = EventStreams(server_settings.event_streams_max)
    svc.extras["event_streams"] = streams
    try:
        server = http_serve(app, host=server_settings.host, port=server_settings.port,
                            threads=server_settings.workers, connection_limit=server_settings.connection_limit,
                            idle_timeout_s=server_settings.idle_timeout_s,
                            request_timeout_s=server_settings.request_timeout_s, streams=streams)
    except OSError as exc:
        svc.close()
        if sandbox:
            sandbox.shutdown()
        owner.release()
        _cannot_listen("rxlane", "rxlane 服务", settings.server.host, settings.server.port, "--port", exc)
    bind(app, server.effective_host)
    if not binds_loopback(server.effective_host):
        click.echo(f"warning: rxlane listens on {server.effective_host}, beyond this computer: every call — "
                   "/v1/health, /metrics and the counter page included — needs a token (rxlane token create); "
                   "list the names the POS uses in [server] allowed_hosts. "
                   f"警告：rxlane 在 {server.effective_host} 上监听，本机以外可访问：所有请求都需要令牌。", err=True)
        logging.getLogger("rxlane").warning("listening beyond loopback on %s: tokens required for every call",
                                            server.effective_host)
    shown_host = f"[{server.effective_host}]" if ":" in server.effective_host else server.effective_host
    url = f"http://{shown_host}:{server.effective_port}"
    owner.announce(url)
    click.echo(f"rxlane listening on {url}")
    if sandbox:
        click.echo(f"sandbox listening on {sandbox.url}")
    sys.stdout.flush()

    def stop(signum, frame):  # noqa: ARG001 — signal handler signature
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    from plugin import runtime
    runtime.started(resolve_dir(settings), settings, svc.gateway_url)
    svc.start_background()
    threading.Thread(target=_warm_up, args=(svc,), name="rxlane-warmup", daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        svc.extras.setdefault("stopping", threading.Event()).set()
        server.close()
        svc.close()
        runtime.stopped(resolve_dir(settings))
        if sandbox:
            sandbox.shutdown()
        owner.release()
        click.echo("rxlane stopped")


def _warm_up(svc) -> None:
    """Sign in and fill the catalogue before the first patient arrives; failures only show in health."""
    try:
        svc.upstream.ensure_signed_in()
        if svc.catalog.stale():
            svc.catalog.sync()
    except Exception as exc:  # noqa: BLE001 — health reports the upstream state
        logging.getLogger("rxlane").warning("warm-up: %s", type(exc).__name__)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, type=int, show_default=True)
@click.option("--no-demo", is_flag=True)
@click.option("--region", default="jiangxi", show_default=True, help="Region policy the sandbox adjudicates with.")
@click.option("--profile", default="national", show_default=True,
              help="Gateway profile the sandbox checks messages against (config/gateways/<name>.toml).")
def sandbox(host, port, no_demo, region, profile) -> None:
    """Run the sandbox insurer alone (rxlane then reaches it through [nhsa] url)."""
    from adapters.nhsa.profile import ProfileError
    from adapters.sandbox.server import start_sandbox
    try:
        sb = start_sandbox(host, port, demo=not no_demo, policy=region, profile=profile)
    except ProfileError as exc:
        _fail(RxlaneError("INVALID_INPUT", message=f"gateway profile: {exc}", message_zh=f"网关配置文件错误：{exc}",
                          details={"field": "profile"}))
    except OSError as exc:
        click.echo(f"sandbox: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        sys.exit(1)
    except RxlaneError as exc:
        _fail(exc)
    click.echo(f"sandbox listening on {sb.url}")
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    sb.shutdown()


@main.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--profile", "profile_file", type=click.Path(dir_okay=False),
              help="Also validate this gateway profile file (config/gateways/<name>.toml format).")
def config_check(config_file, profile_file) -> None:
    """Validate every layer and the gateway profile; print the effective configuration with secrets masked."""
    from adapters.nhsa.profile import ProfileError, load_profile
    from plugin.config import permission_warnings
    from plugin.devices import device_configs
    from plugin.service import store_policy
    settings = _settings(config_file)
    try:
        policy = store_policy(settings)
        profile = load_profile(profile_file or settings.nhsa.profile)
        device_configs(settings.devices)   # a printer's code page, a scanner's framing: refused here, not at a sale
    except RxlaneError as exc:
        _fail(exc)
    except ProfileError as exc:
        _fail(RxlaneError("INVALID_INPUT", message=f"gateway profile: {exc}", message_zh=f"网关配置文件错误：{exc}",
                          details={"field": "nhsa.profile"}))
    for warning in permission_warnings(settings, config_file):
        click.echo(f"warning: {warning}", err=True)
    click.echo(json.dumps({"ok": True, "policy": {"region": policy.region, "source": policy.source},
                           "gateway_profile": {"name": profile.name, "title": profile.title,
                                               "extends": profile.extends, "transactions": sorted(profile.messages)},
                           "effective": settings.masked()}, ensure_ascii=False, indent=2))


def _cannot_listen(what: str, what_zh: str, host: str, port: int, flag: str, exc: OSError) -> NoReturn:
    """A port that cannot be taken (another program, or another rxlane, listens there): which one, and the flag."""
    click.echo(f"{what}: cannot listen on {host}:{port}: {exc.strerror or exc} — another program may use it; "
               f"choose another with {flag}. {what_zh}无法在 {host}:{port} 上监听（{exc.strerror or exc}），"
               f"端口可能已被占用，请用 {flag} 指定其他端口。", err=True)
    sys.exit(1)


GATEWAY_BINDING = ("GATEWAY_MISMATCH", "GATEWAY_NOT_RUNNING")
#: Where a command that only reads builds its service when no gateway may be reached: a reserved name that never
#: resolves, so nothing can be delivered there by accident.
NOWHERE = "http://gateway-unknown.invalid"


def _offline_service(config_file: str | None, data_dir: str | None, *, sends: bool = True,
                     beside: bool = False):
    """The service for an offline command, bound to the gateway the running service uses (plugin/runtime.py);
    ``svc.extras["gateway"]`` says which and why. A command that ``sends`` fails with the reason when there is
    none (GATEWAY_NOT_RUNNING, GATEWAY_MISMATCH) before anything is sent. ``beside``: a command that may run
    beside the service owning the data directory (it then uses that service's gateway, the embedded sandbox
    included, and msgids from the tools' range the service never reaches); the others claim the directory
    first."""
    from adapters.nhsa.envelope import MsgIdGenerator
    from plugin import datadir
    from plugin.runtime import offline_gateway
    from plugin.service import build_service, data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    directory = resolve_dir(settings)
    target = offline_gateway(settings, directory, datadir.in_use(directory) if beside else None)
    if sends and target.error is not None:
        raise target.error
    svc = build_service(settings, gateway_url=target.url or NOWHERE)
    svc.extras["gateway"] = target
    if beside:      # the service may send in this very second: this command's msgids come from the tools' range
        ours = svc.upstream.client.msgids
        svc.upstream.client.msgids = MsgIdGenerator(ours.fixmedins_code, counter_no=ours.counter_no,
                                                    first=MsgIdGenerator.TOOL_FIRST)
    return svc


@contextmanager
def _owning(config_file: str | None, data_dir: str | None, role: str) -> Iterator[Any]:
    """An offline command that changes the books or talks to the insurer: it takes the data directory for its run
    (a service starting meanwhile is refused), or is itself refused while a service owns it — the service does
    the same work by itself and through its API (docs/reliability.md, "Offline commands")."""
    from plugin import datadir
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    try:
        owner = datadir.claim(resolve_dir(settings), role)
    except RxlaneError as exc:
        _fail(exc)
    try:
        svc = _offline_service(config_file, data_dir)
    except RxlaneError as exc:
        owner.release()
        _fail(exc)
    try:
        yield svc
    finally:
        svc.ledger.close()
        owner.release()


def _reading(config_file: str | None, data_dir: str | None):
    """The ledger opened read-only: for commands that only look, beside a running service or not."""
    from plugin.ledger import Ledger
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    try:
        return Ledger(resolve_dir(settings) / "ledger.sqlite3", read_only=True)
    except RxlaneError as exc:
        _fail(exc)


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--resolve", is_flag=True, help="Resolve in-doubt sales now (2601 reversal) and drain the outbox.")
def doctor(config_file, data_dir, resolve) -> None:
    """Check the ledger, the insurer connection, in-doubt sales and the outbox.

    Beside a running service it only reads the ledger (and says which process owns it); --resolve then refuses:
    the service resolves in-doubt sales by itself (POST /v1/sales/{id}/resolve asks it now)."""
    from plugin import datadir
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    directory = resolve_dir(settings)
    running = datadir.in_use(directory)
    if running is not None:
        if resolve:
            _fail(DataDirInUse(str(directory), running))
        report = _look(directory / "ledger.sqlite3")
        report["service"] = {"running": True, **running}
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        sys.exit(0 if report["ok"] else 1)
    try:
        owner = datadir.claim(directory, "rxlane doctor")
    except RxlaneError as exc:
        _fail(exc)
    try:
        try:
            svc = _offline_service(config_file, data_dir, sends=resolve)
        except RxlaneError as exc:
            if exc.code in GATEWAY_BINDING:   # --resolve would send where this ledger is not served
                owner.release()
                _fail(exc)
            # the ledger cannot even be opened (damaged, empty, read-only): a report says why, not a traceback
            report = _look(directory / "ledger.sqlite3")
        else:
            try:
                report = _doctor(svc, resolve)
            except RxlaneError:   # damage found only once pages are read: report it as a ledger that cannot be used
                report = _look(directory / "ledger.sqlite3")
            finally:
                svc.ledger.close()
    finally:
        owner.release()
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(0 if report["ok"] else 1)


def _doctor(svc: Any, resolve: bool) -> dict[str, Any]:
    from plugin.api.health import health_report
    from plugin.recovery import resolve_all
    target = svc.extras["gateway"]
    report: dict[str, Any] = {"gateway": target.describe()}
    if resolve:
        report["resolved"] = resolve_all(svc.sales, force=True)
        report["outbox_delivered"] = svc.outbox.drain()
    if target.url:   # never signs in to a gateway this ledger is not served against
        try:
            svc.upstream.ensure_signed_in()
        except RxlaneError:
            pass
    report["health"] = health_report(svc)
    ok, rows, bad = svc.ledger.audit.verify()
    report["audit"] = {"ok": ok, "rows": rows, "first_bad_row": bad}
    integrity = svc.ledger.integrity_ok()
    report["ledger_integrity"] = integrity          # the older key, kept for scripts that read it
    report["ledger"] = {"path": str(svc.ledger.path), "ok": integrity, "integrity": integrity}
    report["ok"] = report["health"]["status"] == "ok" and ok and integrity
    return report


def _look(path: Path) -> dict[str, Any]:
    """What can be learnt of a ledger by reading it alone (no insurer, no writes): a damaged or missing file is
    reported, not raised."""
    from plugin.ledger import Ledger
    from plugin.sale import IN_DOUBT_STATES
    from plugin.store.files import check_header, quick_check
    report: dict[str, Any] = {"ledger": {"path": str(path)}}
    try:
        check_header(path)
        ledger = Ledger(path, read_only=True)
    except RxlaneError as exc:
        report["ledger"].update(ok=False, error=exc.to_body()["error"])
        report["ok"] = False
        return report
    try:
        in_doubt = ledger.sales.ids_in(*IN_DOUBT_STATES)
        mid_flight = ledger.sales.mid_flight()
        pending, _, parked, waiting = ledger.outbox.depth()
        ok, rows, bad = ledger.audit.verify()
        integrity = quick_check(path)
        report["ledger"].update(ok=integrity, schema_version=ledger.schema_version, integrity=integrity)
        report.update(in_doubt=len(in_doubt), in_doubt_ids=in_doubt[:50], mid_flight_ids=mid_flight[:50],
                      outbox={"pending": pending, "parked": parked, "waiting": waiting},
                      audit={"ok": ok, "rows": rows, "first_bad_row": bad})
        report["ok"] = integrity and ok and not in_doubt and not parked
    except RxlaneError as exc:
        report["ledger"].update(ok=False, error=exc.to_body()["error"])
        report["ok"] = False
    finally:
        ledger.close()
    return report


@main.group()
def catalog() -> None:
    """The insurer's dual-channel catalogue cache, and the province's published list (import, show)."""


@catalog.command("sync")
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--full", is_flag=True, help="Ask for every row, not only those updated since the last sync.")
def catalog_sync(config_file, data_dir, full) -> None:
    """Refresh the gateway's catalogue (1312) and price ceilings (1318) now, incrementally by updt_time; list the
    drugs whose imported payment standard is above the insurer's ceiling. A running service syncs by itself:
    refused beside one."""
    with _owning(config_file, data_dir, "rxlane catalog sync") as svc:
        try:
            report = svc.catalog.sync(full=full)
        except RxlaneError as exc:
            _fail(exc)
    click.echo(json.dumps({"gateway": svc.gateway_url, "rows": report.rows, "ceilings": report.ceilings,
                           "above_ceiling": report.differences}, ensure_ascii=False, indent=2))


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--retry", "retry", is_flag=True, help="Make waiting and parked uploads due now and send them.")
@click.option("--id", "row_id", type=int, default=None, help="With --retry: only this row.")
def outbox(config_file, data_dir, retry, row_id) -> None:
    """List the uploads not yet delivered (3505/3506, 7204/7206), each parked or waiting one with its fix.
    --retry sends what is waiting through the gateway this ledger is served against; beside a running service it is
    refused — that service retries by itself, and POST /v1/outbox/retry asks it now."""
    from plugin.runtime import offline_gateway
    from plugin.service import data_dir as resolve_dir
    if retry:
        with _owning(config_file, data_dir, "rxlane outbox --retry") as svc:
            result: dict[str, Any] = {"gateway": svc.extras["gateway"].describe(),
                                      "made_due": svc.outbox.retry(row_id), "delivered": svc.outbox.drain(),
                                      "depth": svc.outbox.depth(), "rows": svc.outbox.rows(unfinished=True)}
    else:
        from plugin import datadir
        from plugin.outbox import Outbox
        settings = _settings(config_file, server__data_dir=data_dir)
        directory = resolve_dir(settings)
        ledger = _reading(config_file, data_dir)
        try:
            listing = Outbox(ledger, None)   # listing only: never sends
            gateway = offline_gateway(settings, directory, datadir.in_use(directory))
            result = {"gateway": gateway.describe(), "depth": listing.depth(), "rows": listing.rows(unfinished=True)}
        finally:
            ledger.close()
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@main.command("journal")
@click.argument("msgid")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
def journal(msgid, data_dir, config_file) -> None:
    """Show one journaled insurer message with its request and answer (names, ID and card numbers, tokens
    masked)."""
    from plugin.privacy import scrub_data
    ledger = _reading(config_file, data_dir)
    try:
        message = ledger.journal.message(msgid[:40])
    finally:
        ledger.close()
    if message is None:
        click.echo(json.dumps({"error": {"code": "NOT_FOUND", "message": f"no journaled message {msgid[:40]}",
                                         "message_zh": "未找到该报文。"}}, ensure_ascii=False), err=True)
        sys.exit(1)
    click.echo(json.dumps(scrub_data(message), ensure_ascii=False, indent=2))


@main.group()
def audit() -> None:
    """The append-only audit trail."""


@audit.command("verify")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False))
def audit_verify(data_dir, config_file) -> None:
    """Check the audit trail's hash chain (read-only: beside a running service too)."""
    ledger = _reading(config_file, data_dir)
    try:
        ok, rows, bad = ledger.audit.verify()
    finally:
        ledger.close()
    click.echo(json.dumps({"ok": ok, "rows": rows, "first_bad_row": bad}))
    sys.exit(0 if ok else 1)


def _register_commands() -> None:
    """Command groups that live beside their feature."""
    from plugin.commands.fleet import fleet
    from plugin.commands.gateway import gateway
    from plugin.commands.hardware import devices, simulate
    from plugin.commands.policy import policy
    from plugin.commands.reconcile import reconcile
    from plugin.commands.report import report
    from plugin.commands.retention import retention
    from plugin.commands.stock import stock
    from plugin.commands.tokens import token
    from plugin.commands.backup import backup, restore
    for cmd in (policy, simulate, devices, fleet, report, token, reconcile, gateway, backup, restore, stock,
                retention):
        main.add_command(cmd)
    from plugin.commands.dclist import catalog_import, catalog_show
    from plugin.commands.hq import hq
    main.add_command(hq)
    catalog.add_command(catalog_import)
    catalog.add_command(catalog_show)


_register_commands()

if __name__ == "__main__":
    main()
