"""`rxlane hq serve|enroll|revoke|publish-list|report|migrate` — chain headquarters (docs/hq.md)."""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import click

from plugin.commands.dclist import list_file_options
from plugin.errors import InvalidInput, RxlaneError

_common = [click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file (TOML)."),
           click.option("--data-dir", type=click.Path(file_okay=False),
                        help="HQ's data dir (the embedded SQLite database)."),
           click.option("--database-url", help="postgresql://user@host/db (default: SQLite in the data dir).")]


def common(f):
    for option in reversed(_common):
        f = option(f)
    return f


def _settings(config_file, data_dir, database_url, **more):
    from plugin.cli import _settings as load
    return load(config_file, hq__data_dir=data_dir, hq__database_url=database_url, **more)


def _open(settings):
    from plugin.cli import _fail
    from plugin.hq.service import build_hq
    try:
        return build_hq(settings)
    except RxlaneError as exc:
        _fail(exc)


@click.group()
def hq() -> None:
    """Chain headquarters: stores push heartbeats and reports to it; it publishes the dual-channel list."""


def _loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost")


@hq.command("serve")
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8800; 0 picks a free port).")
@click.option("--workers", type=int, help="Threads (default 8).")
@common
def serve(host, port, workers, config_file, data_dir, database_url) -> None:
    """Run the HQ service: the store API, the HQ page, heartbeat history pruning."""
    import waitress

    from plugin.cli import _fail
    from plugin.hq.app import create_hq_app
    from plugin.logs import configure_logging
    settings = _settings(config_file, data_dir, database_url, hq__host=host, hq__port=port, hq__workers=workers)
    hq_settings = settings.hq
    configure_logging()
    service = _open(settings)
    if not _loopback(hq_settings.host) and not service.admin_token:
        service.close()
        _fail(InvalidInput("hq serve beyond loopback needs an admin token: set RXLANE_HQ__ADMIN_TOKEN or "
                           "[hq] admin_token_file", "总部服务对外监听时必须设置管理员令牌（RXLANE_HQ__ADMIN_TOKEN 或 "
                           "[hq] admin_token_file）。", field="hq.admin_token"))
    try:
        server = waitress.create_server(create_hq_app(service), host=hq_settings.host, port=hq_settings.port,
                                        threads=hq_settings.workers, ident="rxlane-hq", channel_timeout=60)
    except OSError as exc:
        service.close()
        click.echo(f"hq: cannot listen on {hq_settings.host}:{hq_settings.port}: {exc.strerror}", err=True)
        sys.exit(1)
    shown = f"[{hq_settings.host}]" if ":" in hq_settings.host else hq_settings.host
    click.echo(f"hq listening on http://{shown}:{server.effective_port}")
    sys.stdout.flush()
    stopping = threading.Event()
    threading.Thread(target=_prune_forever, args=(service, stopping), name="hq-prune", daemon=True).start()

    def stop(signum, frame):  # noqa: ARG001 — signal handler signature
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=10)
        server.close()
        service.close()
        click.echo("hq stopped")


def _prune_forever(service, stopping: threading.Event, every_s: float = 3600) -> None:
    """Heartbeat history older than ``history_days`` goes, hourly (several HQ processes may all do it)."""
    from plugin.hq.heartbeats import prune
    from plugin.logs import get_logger
    log = get_logger("rxlane.hq")
    delay = min(60.0, every_s)
    while not stopping.wait(delay):
        delay = every_s
        try:
            removed = prune(service.db, time.time() - service.settings.history_days * 86400)
            if removed:
                log.info("pruned heartbeat history", rows=removed)
        except Exception as exc:  # noqa: BLE001 — a database hiccup must not stop the service; next round retries
            log.warning("pruning failed", error=type(exc).__name__)


@hq.command("enroll")
@click.argument("store_id")
@click.option("--region", default="", help="The store's region (it also reports it in its heartbeats).")
@click.option("--rotate", is_flag=True, help="Issue a new token for an enrolled or revoked store.")
@common
def enroll(store_id, region, rotate, config_file, data_dir, database_url) -> None:
    """Enrol a store and print its token once (HQ keeps only its hash)."""
    from plugin.cli import _fail
    from plugin.hq.enrolment import enroll as enrol
    service = _open(_settings(config_file, data_dir, database_url))
    try:
        done = enrol(service.db, store_id, region=region, rotate=rotate)
    except RxlaneError as exc:
        _fail(exc)
    finally:
        service.close()
    click.echo(json.dumps({"store_id": done.store_id, "token": done.token, "rotated": done.rotated}))
    click.echo("Store this token now: it is not shown again. On the store: RXLANE_HQ__TOKEN=<token> (or a 0600 "
               f"[hq] token_file), [hq] url = <HQ's URL>, [hq] store_id = \"{done.store_id}\".", err=True)


@hq.command("revoke")
@click.argument("store_id")
@common
def revoke(store_id, config_file, data_dir, database_url) -> None:
    """Refuse a store's token from now on (its history stays)."""
    from plugin.cli import _fail
    from plugin.hq.enrolment import revoke as revoke_store
    service = _open(_settings(config_file, data_dir, database_url))
    try:
        revoke_store(service.db, store_id)
    except RxlaneError as exc:
        _fail(exc)
    finally:
        service.close()
    click.echo(json.dumps({"store_id": store_id, "revoked": True}))


@hq.command("publish-list")
@list_file_options
@common
def publish_list(file, source, when, region, mapping_name, config_file, data_dir, database_url) -> None:
    """Validate the province's list (as `rxlane catalog import` does) and publish it to every store."""
    from plugin.cli import _fail
    from plugin.commands.dclist import import_file
    from plugin.hq.published import publish
    settings = _settings(config_file, data_dir, database_url)
    try:
        imported = import_file(settings, file, source=source, when=when, region=region, mapping_name=mapping_name)
    except RxlaneError as exc:
        _fail(exc)
    service = _open(settings)
    try:
        head = publish(service.db, imported)
    finally:
        service.close()
    click.echo(json.dumps({"published": True, **head.to_json()}, ensure_ascii=False, indent=2))


@hq.command("report")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write the chain report here (default stdout).")
@common
def report(month, out, config_file, data_dir, database_url) -> None:
    """The chain's monthly report from the reports stores pushed (newest version of each)."""
    from plugin.cli import _fail
    from plugin.hq.pushed_reports import chain_report
    service = _open(_settings(config_file, data_dir, database_url))
    try:
        text = json.dumps(chain_report(service.db, month), ensure_ascii=False, indent=2) + "\n"
    except RxlaneError as exc:
        _fail(exc)
    finally:
        service.close()
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@hq.command("migrate")
@common
def migrate(config_file, data_dir, database_url) -> None:
    """Bring the HQ database's schema up to date (serve does it too) and print its version."""
    import sqlalchemy as sa

    from plugin.hq.db import masked_url, schema_version
    service = _open(_settings(config_file, data_dir, database_url))
    try:
        with service.db.connect() as conn:
            version = schema_version(conn)
    except sa.exc.SQLAlchemyError as exc:
        click.echo(f"hq: {type(exc).__name__}", err=True)
        sys.exit(1)
    finally:
        service.close()
    click.echo(json.dumps({"database": masked_url(service.db.url), "schema_version": version}))
