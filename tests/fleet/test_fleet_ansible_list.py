"""The Ansible role ships the province's dual-channel list to a store and imports it there
(``rxlane_dual_channel_list``)."""
from __future__ import annotations

import json
import shutil
import sys

import pytest

from plugin.dclist import load_installed_list
from plugin.dclist.document import sha256
from plugin.fleet.simulate import SimFleet, SimStore, free_port
from tests.fleet.test_fleet_ansible import REPO, local_inventory, playbook
from tests.plugin.dclist_files import drugs, province_csv, province_xlsx

pytestmark = pytest.mark.skipif(shutil.which("ansible-playbook") is None,
                                reason="ansible-playbook not installed (pip install 'rxlane[deploy]')")


def test_the_role_copies_the_list_imports_it_once_and_a_bad_list_fails_the_host_keeping_the_old_one(
        tmp_path, chain_file, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    good = tmp_path / "江西目录.xlsx"
    good.write_bytes(province_xlsx(drugs()))
    cli = json.dumps({"rxlane_cli": [sys.executable, "-m", "plugin.cli"], "rxlane_dual_channel_list": str(good),
                      "rxlane_dual_channel_list_source": "赣医保字〔2026〕1号",
                      "rxlane_dual_channel_list_date": "2026-01-05"})
    port = free_port()
    with SimFleet([SimStore("127.0.0.1", port, "ok")]):
        inventory, [store_id] = local_inventory(tmp_path, 1, [f"http://127.0.0.1:{port}/v1/health"], chain_file)
        first = playbook(inventory, "-e", cli)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        data_dir = tmp_path / "hosts" / store_id / "var"
        installed = load_installed_list(data_dir)
        assert len(installed) == 3 and installed.meta.sha256 == sha256(good.read_bytes())
        assert installed.meta.source == "赣医保字〔2026〕1号" and installed.meta.region == "jiangxi"
        before = (data_dir / "dual-channel-list.json").read_bytes()

        again = playbook(inventory, "-e", cli)                       # the same list: not imported a second time
        assert again.returncode == 0
        task = again.stdout.split("TASK [rxlane : Import the dual-channel list]", 1)[1].split("TASK [", 1)[0]
        assert "skipping: [st-00000]" in task
        assert (data_dir / "dual-channel-list.json").read_bytes() == before

        rows = drugs()
        rows[1]["医保支付标准"] = "12.345"
        good.write_bytes(province_csv(rows))
        bad = playbook(inventory, "-e", json.dumps({**json.loads(cli), "rxlane_dual_channel_list": str(good)}))
    assert bad.returncode != 0 and "LIST_INVALID" in bad.stdout
    assert (data_dir / "dual-channel-list.json").read_bytes() == before
