"""The running service's parts, built once from the settings: ledger, gateway, policy, catalog, sales, outbox.

`create_app` (plugin/app.py) wraps this in Flask; the CLI's offline commands (doctor, reconcile, outbox) build the
same object without a web server, so there is one way to wire rxlane.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from datetime import datetime, timedelta
from pathlib import Path
from collections.abc import Callable

import platformdirs

from adapters.evoucher import http as evoucher_http
from adapters.evoucher.http import EVoucherSettings, EVoucherUnavailable, Identity
from adapters.nhsa.client import GatewayClient, GatewaySettings, MsgIdGenerator
from adapters.nhsa.dll import DllTransport
from adapters.nhsa.profile import GatewayProfile, load_profile
from plugin import __version__, drafts
from plugin.api.metrics import observe_upstream
from plugin import patients
from plugin.catalog import Catalog
from plugin.credentials import Credential
from plugin.password import PasswordSeal
from plugin.config import Settings
from plugin.devices import CounterDevices, ScanRefs, device_configs
from plugin.errors import LedgerFault
from plugin.events import EventBus
from plugin.heartbeat import Heartbeat
from plugin.ledger import Ledger
from plugin.outbox import Outbox, drug_description
from plugin.peers import accept_lead
from plugin.policy import Policy, load_policy, load_region
from plugin.reconcile import run_if_due
from plugin.recovery import Recovery, adopt_interrupted
from plugin.institutions import InstitutionLevels
from plugin.packs import uploaded_kinds
from plugin.retention import Retention, ledger_backup
from plugin.sales import SaleService
from plugin.tracecode import ScanRules
from plugin.store.files import quick_check
from plugin.upstream import Upstream

log = logging.getLogger("rxlane")


def data_dir(settings: Settings) -> Path:
    return Path(settings.server.data_dir or platformdirs.user_data_dir("rxlane", appauthor=False))


def store_policy(settings: Settings) -> Policy:
    if settings.store.policy_file:
        return load_policy(settings.store.policy_file)
    return load_region(settings.store.region)


@dataclass
class Service:
    settings: Settings
    ledger: Ledger
    upstream: Upstream
    policy: Policy
    catalog: Catalog
    sales: SaleService
    outbox: Outbox
    recovery: Recovery
    events: EventBus
    gateway_url: str
    version: str = __version__
    devices: CounterDevices | None = None
    scan_refs: ScanRefs = field(default_factory=ScanRefs)
    evoucher: EVoucherSettings | None = None
    extras: dict = field(default_factory=dict)
    retention: Retention | None = None

    def decode_evoucher(self, qr: str) -> Identity:
        """The e-voucher QR value → token and identity (adapters/evoucher)."""
        if self.evoucher is None:
            raise EVoucherUnavailable("no e-voucher service configured")
        return evoucher_http.decode(self.evoucher, qr)

    def identify(self, cred: Credential, *, pii: bool = False) -> dict[str, Any]:
        return patients.identify(self.ledger, self.upstream, cred, decoder=self.decode_evoucher, pii=pii,
                                 ytd_codes=self.upstream.client.profile.ytd)

    @property
    def pharmacy_admdvs(self) -> str:
        return self.settings.store.admdvs or self.policy.admdvs

    def recover_at_start(self) -> None:
        """Only the serving process may do this: a sale mid-settle in a live service would otherwise be adopted
        as in doubt by an offline command (doctor, outbox, reconcile) running beside it."""
        interrupted = adopt_interrupted(self.ledger)
        if interrupted:
            log.warning("adopted %d interrupted sale(s) as in doubt", interrupted)
        # a request that died with the process keeps its key claimed: its retry takes the claim over and answers
        # with what the first attempt did (plugin/api/idempotency.py), never with INVALID_STATE

    def check_ledger(self, in_background_over: int = 256 * 1024 * 1024) -> None:
        """The full integrity check of the ledger before serving (a damaged page must not surface mid-sale): at
        once for a ledger up to ``in_background_over`` bytes (a fraction of a second), else on a connection of its
        own in the background, money stopping if it fails (``ledger.fault``)."""
        if self.ledger.path.stat().st_size <= in_background_over:
            if not self.ledger.integrity_ok():
                raise self.ledger.fault or LedgerFault("LEDGER_DAMAGED", "the integrity check failed")
            return

        def check() -> None:
            if not quick_check(self.ledger.path):
                self.ledger.integrity_ok()      # confirms on the shared connection and stops money
                log.error("ledger integrity check failed: money stopped")
        threading.Thread(target=check, name="rxlane-ledger-check", daemon=True).start()

    def background_rounds(self) -> list[Callable[[], object]]:
        """The chores of each recovery round beside resolving and draining (fresh ones, so each is due at once)."""
        server = self.settings.server
        ttl = timedelta(hours=server.idempotency_ttl_h)
        rounds: list[Callable[[], object]] = [
            lambda: run_if_due(self, datetime.now(), self.settings.reconcile.at),
            self.catalog.sync_if_stale,
            lambda: drafts.expire(self.sales, datetime.now(), self.settings.store.draft_expiry_minutes),
            Every(server.checkpoint_s, self.ledger.checkpoint).run,
            Every(600, lambda: self.ledger.idempotency.expire(ttl)).run,
        ]
        if self.retention is not None:
            retention = self.retention
            rounds.append(lambda: retention.run_if_due(datetime.now()))
        if self.settings.hq.heartbeat_url:
            from plugin.api.health import health_report
            beat = Heartbeat(self.settings.hq.heartbeat_url, self.settings.hq.heartbeat_s,
                             lambda: health_report(self))
            rounds.append(beat.beat_if_due)
        return rounds

    def start_background(self) -> None:
        self.recovery.set_rounds(self.background_rounds())
        if self.settings.hq.url:
            from plugin.heartbeat import start_hq_link
            self.extras["hq_link"] = start_hq_link(self)
        self.recovery.start()
        if self.devices is not None:
            self.devices.start()

    def close(self) -> None:
        if self.extras.get("hq_link") is not None:
            self.extras["hq_link"].stop()
        self.recovery.stop()
        if self.devices is not None:
            self.devices.stop()
        transport = getattr(self.upstream.client, "transport", None)
        if transport is not None:
            transport.close()
        self.ledger.close()


class Every:
    """A recovery-round chore that runs at most once per ``seconds`` (monotonic: a clock jump changes nothing)."""

    def __init__(self, seconds: float, step: Callable[[], object]):
        self.seconds = seconds
        self.step = step
        self._last: float | None = None

    def run(self) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.seconds:
            return
        self._last = now
        self.step()


def build_service(settings: Settings, gateway_url: str | None = None) -> Service:
    """Wire every part. `gateway_url` is the embedded sandbox's address when `[nhsa] url` is empty."""
    url = settings.nhsa.url or gateway_url
    transport = None
    if settings.nhsa.transport == "dll":
        nhsa = settings.nhsa
        transport = DllTransport(nhsa.dll_path, init_args=nhsa.dll_init_args, timeout_s=nhsa.timeout_s,
                                 encoding=nhsa.dll_encoding, python=nhsa.dll_python)
        url = url or f"dll:{nhsa.dll_path}"
    if not url:
        raise ValueError("no insurer gateway: set [nhsa] url or start the embedded sandbox")
    policy = store_policy(settings)
    ledger = Ledger(data_dir(settings) / "ledger.sqlite3")
    accept_lead(ledger, settings.reconcile.lead_token_sha256)
    admdvs = settings.store.admdvs or policy.admdvs
    profile = load_profile(settings.nhsa.profile)
    client = GatewayClient(
        GatewaySettings(url=url, path=settings.nhsa.path, timeout_s=settings.nhsa.timeout_s,
                        fixmedins_code=settings.store.fixmedins_code, fixmedins_name=settings.store.fixmedins_name,
                        mdtrtarea_admvs=admdvs, opter=settings.nhsa.opter, opter_name=settings.nhsa.opter_name,
                        profile=profile, terminal_ip=settings.nhsa.terminal_ip,
                        terminal_mac=settings.nhsa.terminal_mac, apikey=settings.nhsa.apikey,
                        paasid=settings.nhsa.paasid, secret=settings.nhsa.secret,
                        verify_tls=settings.nhsa.verify_tls, ca_bundle=settings.nhsa.ca_bundle,
                        proxy=settings.nhsa.proxy,
                        signtype=settings.nhsa.signtype, sm2_private_key=settings.nhsa.sm2_private_key,
                        sm2_private_key_file=settings.nhsa.sm2_private_key_file,
                        sm2_public_key=settings.nhsa.sm2_public_key, sm4_key=settings.nhsa.sm4_key,
                        sm4_key_file=settings.nhsa.sm4_key_file, encrypt_body=settings.nhsa.encrypt_body),
        MsgIdGenerator(settings.store.fixmedins_code, last_issued=ledger.journal.newest_msgid(),
                       counter_no=settings.store.counter_no), transport=transport)
    events = EventBus()
    upstream = Upstream(client, on_latency=observe_upstream)
    catalog = Catalog(ledger, upstream, admdvs, data_dir(settings), settings.catalog.list_file)
    recovery_box: dict[str, Recovery] = {}
    seal = PasswordSeal.from_file(settings.nhsa.password_public_key_file) \
        if settings.nhsa.password_public_key_file else None
    rules = ScanRules(product_prefix_len=settings.store.trace_prefix_len,
                      gs_standins=tuple(settings.scanning.gs_standins), other_codes=settings.scanning.other_codes)
    sales = SaleService(ledger, upstream, catalog, policy, pharmacy_admdvs=admdvs,
                        trace_prefix_len=settings.store.trace_prefix_len, events=events,
                        on_in_doubt=lambda sale_id: recovery_box["r"].kick(),
                        on_uploads=lambda: recovery_box["r"].kick(), password_seal=seal,
                        levels=InstitutionLevels(upstream, upstream.client.profile.hosp_lv), scan_rules=rules)
    outbox = Outbox(ledger, upstream, opter=settings.nhsa.opter, opter_name=settings.nhsa.opter_name,
                    pharmacists=settings.pharmacists, describe=partial(drug_description, catalog),
                    upload_kinds=uploaded_kinds(settings.scanning.upload_other_codes))
    recovery = Recovery(sales, outbox)
    recovery_box["r"] = recovery
    refs = ScanRefs()
    devices = None
    if settings.devices:
        devices = CounterDevices(device_configs(settings.devices), events, refs, rules)
    return Service(settings=settings, ledger=ledger, upstream=upstream, policy=policy, catalog=catalog,
                   sales=sales, outbox=outbox, recovery=recovery, events=events,
                   gateway_url=f"dll:{settings.nhsa.dll_path}" if transport is not None else url,
                   devices=devices, scan_refs=refs, evoucher=evoucher_settings(settings, url, profile, client),
                   retention=Retention(ledger, settings.retention, backup=ledger_backup(
                       ledger, Path(settings.retention.backup_dir or data_dir(settings) / "backups"),
                       settings.retention.backups_kept)))


def evoucher_settings(settings: Settings, gateway_url: str, profile: GatewayProfile,
                      client: GatewayClient) -> EVoucherSettings:
    """Where the e-voucher QR is decoded: ``[evoucher] url``, else the gateway's base URL with the profile's path
    (the embedded sandbox plays the service there)."""
    url = settings.evoucher.url or gateway_url.rstrip("/") + "/" + profile.evoucher.path.lstrip("/")
    return EVoucherSettings(url=url, org_id=settings.evoucher.org_id or settings.store.fixmedins_code,
                            operator_id=settings.nhsa.opter, operator_name=settings.nhsa.opter_name,
                            business_type=profile.evoucher.business_type, timeout_s=settings.evoucher.timeout_s,
                            verify=client.settings.verify, term_ip=settings.nhsa.terminal_ip)
