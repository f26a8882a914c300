"""Offline commands send only to the gateway the running service uses, and say which (plugin/runtime.py;
docs/reconciliation.md "Offline commands"): a configuration naming another gateway, or an embedded sandbox that is
not running, sends nothing."""
from __future__ import annotations

import json
import os

from click.testing import CliRunner

from plugin import runtime
from plugin.cli import main


def record(counter, pid, gateway, url):
    runtime.write(counter.svc.ledger.path.parent, runtime.Running(
        pid=pid, gateway=gateway, url=url, profile="national", fixmedins_code=counter.svc.settings.store.fixmedins_code,
        started_at="2026-01-01 08:00:00"))


def outbox(counter, *args, url: str = "") -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["outbox", "--data-dir", str(counter.svc.ledger.path.parent), *args],
                                env={"RXLANE_NHSA__URL": url})
    text = result.output if result.exit_code == 0 else (result.stderr or result.output)
    return result.exit_code, json.loads(text[text.index("{"):])


def pending(counter) -> int:
    return counter.svc.outbox.depth()["pending"]


def test_with_the_embedded_sandbox_and_no_service_running_nothing_can_be_sent(counter):
    counter.sell(1)
    code, out = outbox(counter, "--retry")
    assert code == 2 and out["error"]["code"] == "GATEWAY_NOT_RUNNING"
    assert pending(counter) == 2                                   # untouched
    code, listing = outbox(counter)                                # listing sends nothing: allowed, and says why
    assert code == 0 and listing["gateway"]["error"] == "GATEWAY_NOT_RUNNING" and listing["gateway"]["url"] is None


def test_beside_a_running_service_a_command_that_sends_is_refused_and_the_listing_names_the_service(counter):
    from plugin import datadir
    counter.sell(1)
    record(counter, os.getpid(), "sandbox", counter.svc.gateway_url)
    owner = datadir.claim(counter.svc.ledger.path.parent, "rxlane serve")   # as `rxlane serve` holds it
    try:
        owner.announce(counter.http.base)
        code, out = outbox(counter, "--retry")
        assert code == 2 and out["error"]["code"] == "DATA_DIR_IN_USE"
        code, listing = outbox(counter)
        assert code == 0 and listing["gateway"]["source"].startswith(f"the running service (pid {os.getpid()})")
        assert listing["gateway"]["url"] == counter.svc.gateway_url
    finally:
        owner.release()
    assert pending(counter) == 2


def test_a_configuration_naming_another_gateway_than_the_ledgers_sends_nothing(counter):
    counter.sell(1)
    record(counter, None, "https://ybj.example.gov.cn", "https://ybj.example.gov.cn")
    code, out = outbox(counter, "--retry", url=counter.svc.gateway_url)
    assert code == 2 and out["error"]["code"] == "GATEWAY_MISMATCH"
    assert out["error"]["details"]["service"]["gateway"] == "https://ybj.example.gov.cn"
    assert pending(counter) == 2 and all(r.attempts == 0 for r in counter.svc.ledger.outbox.rows())
    record(counter, None, counter.svc.gateway_url, counter.svc.gateway_url)      # the same gateway: allowed
    code, out = outbox(counter, "--retry", url=counter.svc.gateway_url)
    assert code == 0 and out["gateway"]["source"] == "the configuration (no service is running)"
    assert out["delivered"] == 3 and pending(counter) == 0


def test_the_running_record_is_private_and_keeps_the_gateway_after_a_clean_stop(tmp_path, monkeypatch):
    from plugin.config import load_settings
    settings = load_settings(None, environ={}, overrides={"nhsa": {"url": "https://ybj.example.gov.cn"}})
    runtime.started(tmp_path, settings, "https://ybj.example.gov.cn")
    assert os.stat(tmp_path / runtime.RUNTIME_FILE).st_mode & 0o777 == 0o600
    assert runtime.read(tmp_path).pid == os.getpid()
    runtime.stopped(tmp_path)
    kept = runtime.read(tmp_path)
    assert kept.pid is None and kept.gateway == "https://ybj.example.gov.cn"
